import { useApolloClient, useMutation } from "@apollo/client/react";
import { useCallback } from "react";
import { LogoutDocument } from "../gql/graphql";
import { setAuthFlash, type AuthFlash } from "./authFlash";
import { getSession, setSession } from "./session";

/** End this session (on the server too, when it can be reached); `flash` is what the sign-in
 * screen shows next, such as the sign-up form for a guest who wants an account. */
export function useSignOut(): (flash?: AuthFlash) => Promise<void> {
  const client = useApolloClient();
  const [logout] = useMutation(LogoutDocument);
  return useCallback(
    async (flash?: AuthFlash) => {
      const session = getSession();
      if (session) {
        await logout({ variables: { refreshToken: session.refreshToken } }).catch(() => undefined);
      }
      if (flash) setAuthFlash(flash);
      setSession(null);
      await client.clearStore();
    },
    [client, logout],
  );
}
