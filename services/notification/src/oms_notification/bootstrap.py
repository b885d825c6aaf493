"""Composition root of the notification service."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from oms_notification.adapters import MIGRATIONS, messages, webhooks
from oms_notification.adapters.email_templates import TemplateRenderer
from oms_notification.adapters.rebuild import REBUILD
from oms_notification.adapters.sms import HttpSmsSender
from oms_notification.adapters.smtp import SmtpSender
from oms_notification.adapters.webhook_http import http_sender
from oms_notification.config import NotificationSettings
from oms_notification.domain.messages import Channel
from oms_notification.domain.webhooks import RetryPolicy
from oms_notification.entrypoints.api import register_api
from oms_notification.entrypoints.kafka import recorded_outcomes, subscriptions
from oms_notification.service_layer.alerts import Alerts
from oms_notification.service_layer.dispatch import Dispatcher, DispatchPolicy
from oms_notification.service_layer.messages import CustomerMessages
from oms_notification.service_layer.outcomes import RecordedOutcomes
from oms_notification.service_layer.webhooks import Dispatcher as WebhookDispatcher
from oms_notification.service_layer.webhooks import WebhookQueue
from oms_runtime import ServiceRuntime, Wakeup, kill_at, parse_caller_keys

__all__ = ["build_runtime"]


def build_runtime(settings: NotificationSettings | None = None) -> ServiceRuntime:
    settings = settings or NotificationSettings()
    runtime = ServiceRuntime(
        "notification",
        settings=settings,
        migrations=MIGRATIONS,
        rebuild=replace(REBUILD, recorded=recorded_outcomes(RecordedOutcomes(messages))),
    )

    def deciding() -> bool:
        return not runtime.rebuilding

    sms = (
        HttpSmsSender(
            settings.sms_provider_url,
            settings.sms_provider_token.get_secret_value() if settings.sms_provider_token else None,
        )
        if settings.sms_provider_url
        else None
    )
    channels = (Channel.EMAIL, Channel.SMS) if sms else (Channel.EMAIL,)
    # The dispatchers sleep until a commit gives them work or a retry falls due; set, they
    # look once at start for what a previous run left.
    messages_due, deliveries_due = Wakeup(), Wakeup()
    messages_due.set()
    deliveries_due.set()
    customer_messages = CustomerMessages(
        store=messages,
        channels=channels,
        tracking_urls=settings.tracking_urls,
        pickup_stores=settings.pickup_store_directory,
        due=messages_due,
    )
    alerts = Alerts(
        store=webhooks,
        limit=settings.alert_limit,
        window_s=settings.alert_window_s,
        due=deliveries_due,
        deciding=deciding,
    )
    queue = WebhookQueue(store=webhooks, due=deliveries_due, deciding=deciding)
    for subscription in subscriptions(customer_messages, queue, alerts):
        runtime.subscribe(subscription)
    register_api(runtime, parse_caller_keys(settings.notification_api_keys), deliveries_due)

    dispatcher = Dispatcher(
        store=messages,
        renderer=TemplateRenderer(),
        email=SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_sender,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls=settings.smtp_tls,
            timeout_s=settings.smtp_timeout_s,
        ),
        sms=sms,
        after_send=lambda handed_over: kill_at("after_send", handed_over),
        due=messages_due,
        policy=DispatchPolicy(
            batch_max=settings.dispatch_batch_max,
            max_attempts=settings.send_attempts,
            retry_first_s=settings.retry_first_s,
            retry_max_s=settings.retry_max_s,
            sending_lease_s=settings.sending_lease_s,
            unknown_outcome=settings.unknown_outcome,
            order_wait_s=settings.order_wait_s,
            default_locale=settings.default_locale,
            message_id_domain=settings.message_id_domain,
        ),
    )
    webhook_dispatcher = WebhookDispatcher(
        units=runtime,
        store=webhooks,
        open_sender=lambda: http_sender(settings.webhook_concurrency),
        policy=RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            first_s=settings.webhook_backoff_first_s,
            max_s=settings.webhook_backoff_max_s,
        ),
        timeout_s=settings.webhook_timeout_s,
        per_subscription=settings.webhook_per_subscription,
        concurrency=settings.webhook_concurrency,
        poll_s=settings.webhook_poll_s,
        due=deliveries_due,
    )

    @runtime.timer(settings.dispatch_interval_s, wake=messages_due)
    async def send_due_messages() -> None:
        await dispatcher.dispatch(runtime.unit_of_work)

    # Long-lived: the runtime starts it once the service has started and cancels it when it
    # stops; should it fail (the database away), it starts again a tick later.
    @runtime.timer(settings.webhook_poll_s, wake=deliveries_due)
    async def dispatch_webhooks() -> None:
        await webhook_dispatcher.run()

    @runtime.timer(settings.recipient_purge_interval_s)
    async def forget_quiet_recipients() -> None:
        quiet_since = datetime.now(UTC) - timedelta(days=settings.recipient_retention_days)
        async with runtime.unit_of_work() as work:
            await messages.purge_recipients(work.conn, quiet_since)

    return runtime
