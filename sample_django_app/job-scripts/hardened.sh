# stop at the first failure: a failed migrate must fail the Job, and so the sync
set -euo pipefail
# bash is the pod's PID 1 and ignores SIGTERM: pass it on, so that stopping the Job
# stops the migration now (its transaction rolls back), not 30 s later, maybe committed
trap 'kill -TERM "$step"' TERM
# run the migration
python3 manage.py migrate & step=$!; wait "$step"
# load fixtures
python3 manage.py loaddata my-project/fixtures/*.yaml & step=$!; wait "$step"
