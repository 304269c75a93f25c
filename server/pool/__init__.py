"""The order pool (抢单): offers to eligible technicians, atomic claims, expiry."""
