"""Background jobs of the integration layer (django-tasks; enqueued after commit or by the scheduler)."""

from django_tasks import task


@task()
def fan_out_events(municipality_id: int) -> dict:
    """After an event committed: create its deliveries and send them."""
    from .services import deliveries_run

    return deliveries_run(municipality_id=municipality_id)


@task()
def deliver_subscription(subscription_id: int) -> dict:
    """Send one subscription's due deliveries (after a manual resend)."""
    from .services import subscription_deliver_due

    result = subscription_deliver_due(subscription_id=subscription_id)
    return {"delivered": result.delivered, "failed": result.failed}


@task()
def deliveries_sweep() -> dict:
    """Periodic: fan out what a job missed, retry what is due, take over expired leases."""
    from .services import deliveries_sweep as run

    return run()


@task()
def deliveries_prune() -> dict:
    """Periodic (daily): the delivery log's retention."""
    from .services import deliveries_prune as run

    return run()
