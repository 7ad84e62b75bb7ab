# run the migration
python3 manage.py migrate
# load fixtures
python3 manage.py loaddata my-project/fixtures/*.yaml
