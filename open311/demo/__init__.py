"""The demo city: Los Angeles catalogue and real MyLA311 history."""
