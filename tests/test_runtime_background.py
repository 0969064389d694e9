"""runtime.background: the jobs a page follows. The work must run once however many sessions ask, survive the asker
going away, hand its error to every follower and be retried on the next request, and say how far it is."""

from __future__ import annotations

import threading

import pytest

from runtime.background import Job, Jobs


def _held(release: threading.Event, calls: list, result="done"):
    """A computation that reports half its work, then waits for `release`."""

    def compute(job):
        calls.append(1)
        job.progress(5, 10)
        assert release.wait(30)
        job.progress(10, 10)
        return result

    return compute


def test_sessions_asking_for_a_running_job_follow_it_instead_of_starting_another():
    jobs, release, calls, kept = Jobs(), threading.Event(), [], {}
    first = jobs.start("k", "Scoring", _held(release, calls), kept=lambda: kept.get("k"), keep=lambda v: kept.update(k=v))
    followers = [jobs.start("k", "Scoring", _held(release, calls)) for _ in range(3)]
    assert all(f is first for f in followers) and jobs.running() == [first]
    release.set()
    assert first.wait(30) and first.outcome() == "done" and calls == [1]
    assert kept == {"k": "done"} and jobs.running() == []  # kept first, then gone from the registry


def test_a_job_whose_follower_went_away_still_finishes_and_the_next_request_reads_its_kept_result():
    jobs, release, calls, kept = Jobs(), threading.Event(), [], {}
    job = jobs.start("k", "Scoring", _held(release, calls), kept=lambda: kept.get("k"), keep=lambda v: kept.update(k=v))
    assert not job.wait(0.05)  # the page's run stops following here (navigation): nothing cancels the job
    release.set()
    assert job.wait(30)
    again = jobs.start("k", "Scoring", _held(threading.Event(), calls), kept=lambda: kept.get("k"), keep=lambda v: kept.update(k=v))
    assert again.finished and again.outcome() == "done" and calls == [1]  # answered from what was kept: no second computation


def test_a_failed_job_raises_its_error_to_every_follower_and_the_next_request_tries_again():
    jobs, attempts = Jobs(), []

    def failing(job):
        attempts.append(1)
        raise ValueError("the data has labels the checkpoint does not know")

    job = jobs.start("k", "Scoring", failing)
    assert job.wait(30)
    for _ in range(2):  # two sessions following the same job both see the error
        with pytest.raises(ValueError, match="labels the checkpoint does not know"):
            job.outcome()
    retry = jobs.start("k", "Scoring", lambda job: "fixed")
    assert retry is not job and retry.wait(30) and retry.outcome() == "fixed" and attempts == [1]


def test_progress_and_what_the_bar_says():
    job = Job("k", "Scoring with after")
    assert job.describe() == "Scoring with after…" and job.fraction() == 0.0 and job.seconds_left() is None
    with pytest.raises(RuntimeError, match="still running"):
        job.outcome()
    job.started -= 10.0  # ten seconds in, a quarter done: thirty seconds to go at that rate
    job.progress(250, 1000)
    assert job.fraction() == 0.25 and job.seconds_left() == pytest.approx(30.0, abs=0.5)
    assert job.describe().startswith("Scoring with after: 250/1,000 texts, about 3") and job.describe().endswith(" s left")
    job.started -= 290.0  # five minutes for the first quarter: the rest reads in minutes
    assert job.describe().endswith("about 15 min left")
    job.note = "250 of 1,000 texts are new"
    assert job.describe().endswith("about 15 min left — 250 of 1,000 texts are new")
