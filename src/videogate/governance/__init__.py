"""Who may spend what: keys, teams, customers, budgets, rate limits, prices and usage."""
