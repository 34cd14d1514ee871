/** People whose name contains `term`, asked 200 ms after the last keystroke. */
import { useLazyQuery } from "@apollo/client/react";
import { useEffect } from "react";
import { SearchUsersDocument, type SearchUsersQuery } from "../gql/graphql";

export type FoundUser = SearchUsersQuery["searchUsers"]["items"][number];

export function useUserSearch(term: string): { results: FoundUser[]; loading: boolean; answered: boolean } {
  const [search, { data, loading }] = useLazyQuery(SearchUsersDocument, { fetchPolicy: "network-only" });
  const value = term.trim();
  useEffect(() => {
    if (!value) return;
    const timer = setTimeout(() => void search({ variables: { term: value } }).catch(() => undefined), 200);
    return () => clearTimeout(timer);
  }, [value, search]);
  return { results: value ? (data?.searchUsers.items ?? []) : [], loading, answered: data !== undefined };
}
