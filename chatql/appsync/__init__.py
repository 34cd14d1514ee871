"""AWS AppSync's real-time protocol (its `graphql-ws` dialect), so AppSync clients such as
AWS Amplify subscribe to ChatQL as they would to AppSync: `/graphql/realtime`."""
