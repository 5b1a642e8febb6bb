"""Sign in with GitHub and Google: provider clients, the flow, linked identities."""
