using System.Globalization;
using System.Text;
using Broker.Core.Hosting;
using Broker.Core.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>The content type of Prometheus' text exposition format 0.0.4.</summary>
    public const string PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>
    /// <c>GET /api/v4/prometheus</c> (mapped on the API group) and <c>GET /metrics</c> (mapped on the root, where
    /// Prometheus looks by default): every counter and gauge of <c>/stats</c> and <c>/metrics</c>, plus the gauges
    /// plugins set, in Prometheus' text exposition format 0.0.4. Both need the API's basic authentication
    /// (Prometheus' <c>basic_auth</c> scrape setting); the caller adds it to the root one.
    /// </summary>
    private static RouteHandlerBuilder MapPrometheus(IEndpointRouteBuilder routes, string path, IBrokerStatus status) =>
        routes.MapGet(path, () => Results.Text(PrometheusText(status), PrometheusContentType));

    /// <summary>
    /// The exposition: <c>broker_</c> and EMQX's metric name with dots as underscores; counters end in <c>_total</c>.
    /// A plugin gauge <c>x.y</c> becomes <c>broker_x_y</c> (characters outside <c>[a-zA-Z0-9_]</c> become <c>_</c>);
    /// one whose name a built-in metric or an earlier gauge already has is left out rather than exported twice.
    /// </summary>
    internal static string PrometheusText(IBrokerStatus status)
    {
        // The numbers of /stats and /metrics, read once, under their Prometheus names with a help text each.
        var stats = status.Stats();
        var metrics = status.Metrics();
        var text = new StringBuilder(4096);
        var names = new HashSet<string>(StringComparer.Ordinal);

        void Write(string name, string type, string help, long value)
        {
            if (!names.Add(name))
                return;
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
                .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
                .Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Write("broker_connections_count", "gauge", "Connections currently open.", stats["connections.count"]);
        Write("broker_connections_max", "gauge", "Most connections open at once since start.", stats["connections.max"]);
        Write("broker_channels_count", "gauge", "Network connections, including those still in CONNECT.", stats["channels.count"]);
        Write("broker_sessions_count", "gauge", "Sessions, connected or persistent.", stats["sessions.count"]);
        Write("broker_subscriptions_count", "gauge", "Subscriptions, shared ones included.", stats["subscriptions.count"]);
        Write("broker_topics_count", "gauge", "Distinct topic filters with at least one subscriber (routes).", stats["topics.count"]);
        Write("broker_retained_count", "gauge", "Retained messages stored (set by the retainer plugin).", stats["retained.count"]);
        Write("broker_uptime_seconds", "gauge", "Seconds since the broker started.", (long)(status.Now - status.StartedAt).TotalSeconds);
        Write("broker_bytes_received_total", "counter", "Bytes received from MQTT clients.", metrics["bytes.received"]);
        Write("broker_bytes_sent_total", "counter", "Bytes sent to MQTT clients.", metrics["bytes.sent"]);
        Write("broker_packets_received_total", "counter", "MQTT packets received.", metrics["packets.received"]);
        Write("broker_packets_sent_total", "counter", "MQTT packets sent.", metrics["packets.sent"]);
        Write("broker_messages_received_total", "counter", "PUBLISH messages received from clients.", metrics["messages.received"]);
        Write("broker_messages_sent_total", "counter", "PUBLISH messages sent to clients.", metrics["messages.sent"]);
        Write("broker_messages_dropped_total", "counter", "Messages dropped, whatever the reason.", metrics["messages.dropped"]);
        Write("broker_delivery_dropped_queue_full_total", "counter", "Messages dropped because a session queue was full.", metrics["delivery.dropped.queue_full"]);
        Write("broker_delivery_slow_subscribers_total", "counter", "Times a connected subscriber was found slow (session.slow_subscriber_timeout).", metrics["delivery.slow_subscribers"]);
        Write("broker_packets_publish_auth_error_total", "counter", "PUBLISHes refused by the authorization rules.", metrics["packets.publish.auth_error"]);
        Write("broker_packets_subscribe_auth_error_total", "counter", "SUBSCRIBE filters refused by the authorization rules.", metrics["packets.subscribe.auth_error"]);
        Write("broker_delivery_dropped_not_authorized_total", "counter", "Messages kept from a subscriber by the authorization rules (subscriptions granted in part).", metrics["delivery.dropped.not_authorized"]);
        Write("broker_messages_publisher_paused_total", "counter", "Times a publisher was held back because a subscriber had fallen behind (session.backpressure_timeout).", metrics["messages.publisher_paused"]);
        Write("broker_overload_held_bytes", "gauge", "Bytes held for clients in session queues and QoS 0 backlogs at the last check (overload_protection.high_watermark).", stats["overload.held_bytes"]);
        Write("broker_overload_active", "gauge", "1 while the broker is overloaded (alarm high_memory_usage), else 0.", stats["overload.active"]);
        Write("broker_client_connect_refused_overload_total", "counter", "Connections refused because the broker was overloaded.", metrics["client.connect.refused_overload"]);
        Write("broker_client_connect_refused_banned_total", "counter", "Connections refused because the client id, user name or address is banned.", metrics["client.connect.refused_banned"]);
        Write("broker_alarms_active", "gauge", "Alarms active now (management API /alarms/activated).", status.ActiveAlarms().Count);
        Write("broker_packets_connack_auth_error_total", "counter", "Logins refused by an authentication source (wrong password, unknown user, a plugin's deny, anonymous when not allowed).", metrics["packets.connack.auth_error"]);
        Write("broker_client_login_delayed_total", "counter", "Logins held because of earlier failures from the same address or for the same user name (login_failure.delay_after).", metrics["client.login.delayed"]);
        Write("broker_client_login_banned_total", "counter", "Addresses and user names banned for failed logins (login_failure.ban_after).", metrics["client.login.banned"]);
        Write("broker_auth_hash_computed_total", "counter", "Password hashes computed (password_hash_concurrency threads).", metrics["auth.hash.computed"]);
        Write("broker_auth_hash_simulated_total", "counter", "Logins of unknown user names answered in a hash's time without computing one.", metrics["auth.hash.simulated"]);
        Write("broker_auth_hash_skipped_total", "counter", "Password hashes skipped because the login had given up before its turn.", metrics["auth.hash.skipped"]);
        Write("broker_auth_hash_queued", "gauge", "Password hashes waiting for a hashing thread.", metrics["auth.hash.queued"]);
        if (status.Persistence is { } journal)
        {
            Write("broker_persistence_size_bytes", "gauge", "Bytes the persistence store takes on disk.", journal.SizeOnDisk);
            Write("broker_persistence_pending", "gauge", "Changes to persistent sessions waiting to be written.", journal.Pending);
            Write("broker_persistence_last_write_microseconds", "gauge", "How long the last write took to be durable (write and fsync).", (long)(journal.LastWriteMilliseconds * 1000));
            Write("broker_persistence_writes_total", "counter", "Batches written to the store.", journal.Writes);
            Write("broker_persistence_records_written_total", "counter", "Records (puts and deletes) written to the store.", journal.Written);
            Write("broker_persistence_write_failures_total", "counter", "Writes the store refused (disk full), each retried.", journal.Failures);
            Write("broker_persistence_failing", "gauge", "1 while the store refuses writes and new QoS 1/2 publishes are refused, else 0.", journal.IsFailing ? 1 : 0);
            Write("broker_packets_publish_refused_not_durable_total", "counter", "QoS 1/2 PUBLISHes refused because the store could not write.", metrics["packets.publish.refused_not_durable"]);
        }

        var gauges = new List<KeyValuePair<string, long>>(status.PluginGauges());
        gauges.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var (gauge, value) in gauges)
            Write(PrometheusName(gauge), "gauge", "Gauge '" + EscapeHelp(gauge) + "' set by a plugin.", value);

        // Plugins' System.Diagnostics.Metrics instruments: broker_plugin_<plugin>_<instrument>[_total].
        foreach (var metric in status.PluginMetrics())
        {
            var name = PrometheusName("plugin_" + metric.Name);
            var help = EscapeHelp(metric.Description ?? $"{metric.Name}, from a plugin.");
            switch (metric.Kind)
            {
                case PluginMetricKind.Counter:
                    WriteDouble(name + "_total", "counter", help, metric.Value);
                    break;
                case PluginMetricKind.Gauge:
                    WriteDouble(name, "gauge", help, metric.Value);
                    break;
                default:
                    // A histogram as a summary without quantiles: how many values, and their sum.
                    if (!names.Add(name))
                        break;
                    text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
                        .Append("# TYPE ").Append(name).Append(" summary\n")
                        .Append(name).Append("_sum ").Append(metric.Value.ToString("R", CultureInfo.InvariantCulture)).Append('\n')
                        .Append(name).Append("_count ").Append(metric.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    break;
            }
        }
        return text.ToString();

        void WriteDouble(string name, string type, string help, double value)
        {
            if (!names.Add(name))
                return;
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
                .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n')
                .Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static string PrometheusName(string gauge)
    {
        var name = new StringBuilder("broker_", 7 + gauge.Length);
        foreach (var c in gauge)
            name.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        return name.ToString();
    }

    /// <summary>HELP text escapes backslash and line feed (exposition format 0.0.4).</summary>
    private static string EscapeHelp(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
