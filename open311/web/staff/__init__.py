"""The staff console (/staff): sign-in with the staff accounts, then a screen per role — the
call-taker's intake, the supervisor's queues, the crew's board — all through the domain
functions the staff API uses, with its roles and cities."""
