"""dsn-inbox: in-site notifications for DSN (an inbox per user and a live unread badge)."""
