"""The ways the seed app reaches PostgreSQL with a patient's data in the query itself.

Each query carries PHI the traces must never show: the ORM filter (a bound parameter), a raw
query with the id inlined as a literal, an IN (...) list of ids, a string literal holding the
user's email, and a line comment naming the user (as a hand-written query or a query tagger may).
The trace filter of the django_apm block must turn every literal into ``?`` and drop comments.
"""
from django.contrib.auth import get_user_model
from django.db import connection

from .models import Patient


def lookups(patient_id, email):
    """Run the five query shapes for a patient id (digits) and an email; returns what they found."""
    if not str(patient_id).isdigit() or "'" in email or "\n" in email:  # inlined below on purpose
        raise ValueError("patient_id must be digits and email must not hold a quote or a line break")
    number = int(patient_id)
    found = {"orm": Patient.objects.filter(external_id=str(patient_id)).count()}
    table = Patient._meta.db_table
    users = get_user_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE external_id = '{number}' OR id = {number}")
        found["raw"] = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE id IN ({number}, {number + 1}, {number + 2})")
        found["in_list"] = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {users} WHERE email = '{email}'")
        found["email"] = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE id = {number} -- looked up for {email}")
        found["comment"] = cursor.fetchone()[0]
    return found
