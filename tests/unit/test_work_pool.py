"""The work pool's lean base job template (flows.local.JOB_TEMPLATE) configures the process
worker exactly as Prefect's default template does when a deployment sets nothing, and
Prefect accepts it: it only spares the server the per-run job-variable validation."""
import asyncio

from prefect.server.schemas.actions import validate_base_job_template
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker

from flows.local import JOB_TEMPLATE


def configuration(template: dict) -> ProcessJobConfiguration:
    return asyncio.run(ProcessJobConfiguration.from_template_and_values(template, {}))


def test_prefect_accepts_the_template() -> None:
    assert validate_base_job_template(JOB_TEMPLATE) == JOB_TEMPLATE


def test_the_worker_is_configured_as_by_the_default_template() -> None:
    default = configuration(ProcessWorker.get_default_base_job_template())
    lean = configuration(JOB_TEMPLATE)
    assert lean.model_dump() == default.model_dump()
    assert lean.stream_output is True and lean.command is None and lean.working_dir is None


def test_no_job_variables_to_validate_per_run() -> None:
    # the server validates a run's job variables against these properties, once per run
    assert JOB_TEMPLATE["variables"]["properties"] == {}
