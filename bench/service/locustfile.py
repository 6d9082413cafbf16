"""Locust load for bench/bench_service.py: single-customer lookups by random id (CLV_BENCH_IDS, CLV_TOKEN)."""

import os
import random

from locust import FastHttpUser, constant, task

IDS = open(os.environ["CLV_BENCH_IDS"]).read().split()
HEADERS = {"Authorization": f"Bearer {os.environ['CLV_TOKEN']}"}


class Lookup(FastHttpUser):
    wait_time = constant(0)

    @task
    def customer(self):
        self.client.get(f"/api/customers/{random.choice(IDS)}", headers=HEADERS, name="/api/customers/{id}")
