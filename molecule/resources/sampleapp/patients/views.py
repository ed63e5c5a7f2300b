import requests
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse

from .models import Patient
from .queries import lookups
from .tasks import record_visit


def health(request):
    return HttpResponse("ok", content_type="text/plain")


def patients(request):
    """Look a patient up by ?patient_id=: a cache read/write, a DB query, the seed's raw queries
    (patients.queries, for a numeric id: literals in SQL), a call to the lab service (LAB_URL,
    when set) and a Celery task.

    Every step handles the patient id (the PHI the traces must not carry).
    """
    patient_id = request.GET.get("patient_id", "")
    key = f"patient:{patient_id}"
    cached = cache.get(key)
    if cached is None:
        cached = Patient.objects.filter(external_id=patient_id).values_list("visits", flat=True).first() or 0
        cache.set(key, cached, timeout=30)
    email = getattr(request.user, "email", "") or "alice.patientcare@example.org"
    found = lookups(patient_id, email) if patient_id.isdigit() and "'" not in email else None
    lab = None
    if settings.LAB_URL:
        try:
            lab = requests.get(settings.LAB_URL, params={"patient_id": patient_id}, timeout=3).status_code
        except requests.RequestException:
            lab = "unreachable"
    result = record_visit.delay(patient_id)
    return JsonResponse({"visits": cached, "found": found, "lab": lab, "task": result.id})


@login_required
def me(request):
    user = request.user
    return JsonResponse({"username": user.get_username(), "email": user.email})
