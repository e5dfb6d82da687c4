"""Chat delivery: Slack and Microsoft Teams incoming webhooks (docs/rhythm.md)."""
