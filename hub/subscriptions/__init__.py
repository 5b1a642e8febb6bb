"""Creator subscriptions: one monthly plan per creator, billed by Stripe Billing, covering runs."""
