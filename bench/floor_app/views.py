import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import FloorRow


@csrf_exempt
@require_POST
def insert(request):
    row = FloorRow.objects.create(payload=json.loads(request.body))
    return JsonResponse({"id": row.pk}, status=201)
