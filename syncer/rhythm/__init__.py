"""The review rhythm (issue 20): check-in cadence, reminders, pace, adoption scorecards,
escalations and reviews. Pure functions over plain values taking `today`/`now`; the shell
that reads the store and delivers is `syncer.rhythm.run`."""
