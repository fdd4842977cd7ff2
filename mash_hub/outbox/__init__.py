"""The transactional outbox: messages that leave the hub (email first).

A message is a row written in the same unit of work as the event that causes it
(`services.enqueue`, called by `mash_hub.notifications.services.notify`), so a rolled-back
action sends nothing and a committed one is never lost. `delivery` sends the rows through
the channel chosen in `[notifications]` (`channels`), with retries, backoff, a dead-letter
state and an idempotency key per message. A row holds no case content: a kind, a contact
reference, agencies, a due time and a link, from which the message is written.
"""
