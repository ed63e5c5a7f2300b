from celery import shared_task

from .models import Patient
from .queries import lookups


@shared_task
def record_visit(patient_id):
    """Count a visit (runs on the Celery worker; the patient id travels as the task argument)."""
    patient, _ = Patient.objects.get_or_create(external_id=str(patient_id))
    patient.visits += 1
    patient.save(update_fields=["visits"])
    return patient.visits


@shared_task
def patient_report(patient_id, email="alice.patientcare@example.org"):
    """The beat-scheduled report (CELERY_BEAT_SCHEDULE): the patient lookups of patients.queries."""
    return lookups(patient_id, email)
