"""Poll the job list and start every job that is due."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from scheduler.jobs import due, job_from_api

log = logging.getLogger("scheduler")


def load_jobs(path: Path) -> list:
    return [job_from_api(raw) for raw in json.loads(path.read_text(encoding="utf-8"))["jobs"]]


def tick(path: Path, today: date, dry_run: bool) -> int:
    jobs = load_jobs(path)
    log.info("loaded %d jobs", len(jobs))
    started = 0
    for job in due(jobs, today):
        log.info("starting %s: %s", job.name, " ".join(job.command))
        if not dry_run:
            subprocess.Popen(job.command)
        started += 1
    return started


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname).1s %(module)s:%(lineno)d] %(message)s")
    path = Path(os.environ.get("JOBS_FILE", "/etc/scheduler/jobs.json"))
    dry_run = os.environ.get("DRY_RUN", "false") == "true"
    log.info("scheduler up, jobs from %s", path)
    while True:
        tick(path, date.today(), dry_run)
        time.sleep(60)


if __name__ == "__main__":
    main()
