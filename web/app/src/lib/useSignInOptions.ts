import { useQuery } from "@apollo/client/react";
import { SignInOptionsDocument, type SignInOptionsQuery } from "../gql/graphql";

export type SignInOptions = SignInOptionsQuery["signInOptions"];

/** What a server that cannot be asked (offline, an older server) is assumed to offer. */
const PLAIN: SignInOptions = {
  __typename: "SignInOptions",
  providers: [],
  emailMode: "OFF",
  passwordReset: false,
  guestAccess: false,
  termsVersion: null,
  termsUrl: null,
};

/** The server's sign-in options (asked once per client); `ready` once known or given up on. */
export function useSignInOptions(): { options: SignInOptions; ready: boolean } {
  const { data, error } = useQuery(SignInOptionsDocument, { fetchPolicy: "cache-first" });
  return { options: data?.signInOptions ?? PLAIN, ready: data !== undefined || error !== undefined };
}
