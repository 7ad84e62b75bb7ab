"""The sample Django app whose migrations the suite runs as an Argo CD PreSync hook Job.

app/            the v1.0 tree, /var/www/django in the image (manage.py, my-project/)
releases/       each later release as one patch on the one before (series, apply.py)
job-scripts/    the Job's shell script: the seed's, and the hardened one
Dockerfile      one image per release (build.py builds it from a host-side wheelhouse)
harness.py      run a release from the host against a database, the way the Job does
"""
