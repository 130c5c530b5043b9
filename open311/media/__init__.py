"""Photos sent with requests and updates: checked by content, cleaned of metadata, stored."""
