"""Repeating timers through the services: each occurrence fires once, at its time, not on every tick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rathaus.processes.models import OutboxMessage, ProcessInstance, Timer

pytestmark = pytest.mark.django_db

DAILY_REMINDER = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="daily_reminder" name="Mit t\xc3\xa4glicher Erinnerung" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="Pr\xc3\xbcfen" camunda:candidateGroups="case_worker">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:boundaryEvent id="daily" cancelActivity="false" attachedToRef="review">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>R/P1D</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="daily" targetRef="remind"/>
    <bpmn:serviceTask id="remind" name="Erinnern" camunda:type="external" camunda:topic="notify_citizen">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="subject">Erinnerung zu {case_ref}</camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f4" sourceRef="remind" targetRef="end2"/>
    <bpmn:endEvent id="end2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_daily_reminder_fires_once_a_day_not_on_every_tick_of_the_scheduler(town, demo_services, dog_data,
                                                                              django_capture_on_commit_callbacks):
    from rathaus.applications.services import application_submit
    from rathaus.processes.services import process_definition_create, timer_fire_due

    service = demo_services["hund-anmelden"]
    process_definition_create(municipality=town, service=service, files=[("daily.bpmn", DAILY_REMINDER)], publish=True)
    with django_capture_on_commit_callbacks(execute=True):
        application = application_submit(municipality=town, service=service, data=dog_data).application
    instance = ProcessInstance.objects.get(application=application)
    [timer] = Timer.objects.filter(instance=instance)
    first = timer.due_at
    assert timedelta(hours=23) < first - timezone.now() <= timedelta(days=1)

    def reminders() -> int:
        return OutboxMessage.objects.filter(kind="email", payload__subject__startswith="Erinnerung").count()

    assert timer_fire_due(now=first + timedelta(minutes=1)) == 1
    assert reminders() == 1
    timer.refresh_from_db()
    assert timer.due_at == first + timedelta(days=1)  # the row waits for the next occurrence
    # The scheduler's next ticks that day find nothing due: no second e-mail a minute later.
    for minutes in (2, 3, 60):
        assert timer_fire_due(now=first + timedelta(minutes=minutes)) == 0
    assert reminders() == 1
    assert timer_fire_due(now=first + timedelta(days=1, minutes=1)) == 1
    assert reminders() == 2
