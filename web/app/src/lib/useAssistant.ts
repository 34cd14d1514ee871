/** The AI assistant's bot user, when the server has one (found by its default name), else null. */
import { useQuery } from "@apollo/client/react";
import { AssistantDocument, type AssistantQuery } from "../gql/graphql";

export type AssistantUser = AssistantQuery["searchUsers"]["items"][number];

export function useAssistant({ skip = false }: { skip?: boolean } = {}): AssistantUser | null {
  const { data } = useQuery(AssistantDocument, { skip, fetchPolicy: "cache-first" });
  return data?.searchUsers.items.find((u) => u.isBot) ?? null;
}
