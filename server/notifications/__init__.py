"""Push notifications: device-token registry, outbox, FCM sender and delivery worker."""
