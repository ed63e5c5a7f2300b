from celery import shared_task

from .models import Patient


@shared_task
def record_visit(patient_id):
    """Count a visit (runs on the Celery worker; the patient id travels as the task argument)."""
    patient, _ = Patient.objects.get_or_create(external_id=str(patient_id))
    patient.visits += 1
    patient.save(update_fields=["visits"])
    return patient.visits
