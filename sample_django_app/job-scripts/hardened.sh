# stop at the first failure: a failed migrate must fail the Job, and so the sync
set -euo pipefail
# run the migration
python3 manage.py migrate
# load fixtures
python3 manage.py loaddata my-project/fixtures/*.yaml
