"""Recommendations: "more like this" per prompt and "for you" per user, precomputed by a cron."""
