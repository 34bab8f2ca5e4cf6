"""Staff accounts, departments, roles, permissions, login, sessions and key grants."""
