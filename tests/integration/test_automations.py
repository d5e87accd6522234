"""`phoihop up` reconciles its automations with the stored ones instead of deleting and
re-creating them (which dropped the timers Prefect holds for runs whose heartbeats
stopped: such a run then stayed Running for ever)."""

from __future__ import annotations

import asyncio

from config.settings import load_settings
from flows.local import AUTOMATION, DELIVERY, ZOMBIES
from tests.conftest import prefect_stack


async def _stored(name: str) -> list:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_automations_by_name(name)


def test_automations_are_kept_when_equal_and_updated_in_place(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    settings = load_settings()
    with prefect_stack(settings) as stack:  # deploy() created both
        [zombies] = asyncio.run(_stored(ZOMBIES))
        [resync] = asyncio.run(_stored(AUTOMATION))
        assert zombies.trigger.within.total_seconds() == stack.crashed_after == 4 * 60
        assert {"prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= zombies.trigger.expect

        # a restart with the same settings: nothing is written (that its timers survive
        # is tests/integration/test_heal.py's)
        assert stack.automate() == {ZOMBIES: "kept", AUTOMATION: "kept"}
        [again] = asyncio.run(_stored(ZOMBIES))
        assert again == zombies

        # other settings (heartbeats every 30 s): the same automation, updated in place
        stack.crashed_after = 150
        assert stack.automate() == {ZOMBIES: "updated", AUTOMATION: "kept"}
        [updated] = asyncio.run(_stored(ZOMBIES))
        assert updated.id == zombies.id and updated.trigger.within.total_seconds() == 150
        assert updated.actions == zombies.actions and updated.enabled
        [same] = asyncio.run(_stored(AUTOMATION))
        assert same.id == resync.id
        assert stack.automate() == {ZOMBIES: "kept", AUTOMATION: "kept"}

        # paused in the UI: a restart leaves it paused
        async def pause() -> None:
            from prefect.client.orchestration import get_client

            async with get_client() as client:
                await client.pause_automation(zombies.id)

        asyncio.run(pause())
        assert stack.automate() == {ZOMBIES: "kept", AUTOMATION: "kept"}
        assert not asyncio.run(_stored(ZOMBIES))[0].enabled

        # the `deliver` deployment's automation (a deployment trigger, re-created with the
        # deployment on every start): created with it, and one paused in the UI stays paused
        [delivery] = asyncio.run(_stored(DELIVERY))
        assert delivery.enabled and delivery.trigger.within.total_seconds() == 30
        assert stack.delivery_trigger().enabled

        async def pause_delivery() -> None:
            from prefect.client.orchestration import get_client

            async with get_client() as client:
                await client.pause_automation(delivery.id)

        asyncio.run(pause_delivery())
        assert not stack.delivery_trigger().enabled
