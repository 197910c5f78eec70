"""Pipeline analytics: the metrics a sales manager runs the team by, for a scope, a period and
any past moment (reconstructed from `deal_history`). See docs/reports.md."""
