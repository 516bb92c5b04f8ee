using System.Globalization;
using System.Text;
using Broker.Abstractions;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Sys;

/// <summary>
/// Publishes <c>$SYS/brokers/{node}/...</c> every <c>broker.sys_interval</c>: identity (version, sysdescr), clock
/// (uptime, datetime), stats (gauges) and metrics (counters), in the topic layout of EMQX 4. Messages are
/// retained, as mosquitto's are, so a subscriber gets the latest values at once where a retainer is loaded.
/// </summary>
public sealed partial class SysPublisher : IDisposable
{
    private readonly BrokerEngine _engine;
    private readonly Hosting.StatusPort _status;
    private readonly ILogger _logger;
    private readonly string _prefix;
    private ITimer? _timer;

    internal SysPublisher(BrokerEngine engine, Hosting.StatusPort status)
    {
        _engine = engine;
        _status = status;
        _logger = engine.LoggerFactory.CreateLogger("Broker.Core.Sys");
        _prefix = "$SYS/brokers/" + engine.BrokerOptions.NodeName + "/";
        engine.Alarms.Changed += PublishAlarm;
    }

    public static string Version { get; } =
        typeof(SysPublisher).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>What <c>sysdescr</c> says (here and in the management API).</summary>
    public const string Description = "Broker, an MQTT broker in the EMQ X tradition";

    internal void Start()
    {
        var interval = _engine.BrokerOptions.SysInterval;
        if (interval > TimeSpan.Zero)
            _timer = _engine.TimeProvider.CreateTimer(static s => ((SysPublisher)s!).Tick(), this, interval, interval);
    }

    private void Tick()
    {
        try
        {
            PublishAll();
        }
        catch (Exception ex)
        {
            LogFailed(_logger, ex);
        }
    }

    /// <summary>Publishes every $SYS topic once, now.</summary>
    internal void PublishAll()
    {
        var now = _status.Now;
        Publish("version", Version, now);
        Publish("sysdescr", Description, now);
        Publish("uptime", FormatUptime(now - _status.StartedAt), now);
        Publish("datetime", now.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), now);

        // The numbers of /stats and /metrics (one read model for the API, Prometheus and here), EMQX's names with
        // dots as levels: stats/connections/count, metrics/packets/received...; the gauges plugins set with the stats.
        foreach (var (name, value) in _status.Stats())
            Publish(TopicOf("stats/", name), value, now);
        foreach (var (name, value) in _status.Metrics(withPluginInstruments: false))
            Publish(TopicOf("metrics/", name), value, now);
        // Plugins' instruments: metrics/plugins/<plugin>/<instrument>, a histogram as .../count and .../sum.
        foreach (var metric in _status.PluginMetrics())
        {
            var topic = TopicOf("metrics/plugins/", metric.Name);
            if (metric.Kind == Metrics.PluginMetricKind.Histogram)
            {
                Publish(topic + "/count", metric.Count, now);
                Publish(topic + "/sum", (long)Math.Round(metric.Value), now);
            }
            else
            {
                Publish(topic, (long)Math.Round(metric.Value), now);
            }
        }
    }

    private static string TopicOf(string prefix, string name) => string.Concat(prefix, name.Replace('.', '/'));

    /// <summary>
    /// <c>$SYS/brokers/{node}/alarms/activate|deactivate</c> as an alarm is raised or cleared, whatever
    /// broker.sys_interval says (an event, not a periodic value; not retained), with EMQX 4's JSON payload.
    /// </summary>
    private void PublishAlarm(Alarms.Alarm alarm, bool activated)
    {
        try
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
            using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("name", alarm.Name);
                json.WriteString("message", alarm.Message);
                json.WriteStartObject("details");
                foreach (var (key, value) in alarm.Details)
                    json.WriteNumber(key, value);
                json.WriteEndObject();
                json.WriteNumber("activate_at", Alarms.Alarm.Microseconds(alarm.ActivatedAt));
                if (alarm.DeactivatedAt is { } deactivated)
                    json.WriteNumber("deactivate_at", Alarms.Alarm.Microseconds(deactivated));
                json.WriteEndObject();
            }
            _ = _engine.PublishAsync(new BrokerMessage
            {
                Topic = _prefix + (activated ? "alarms/activate" : "alarms/deactivate"),
                Payload = buffer.WrittenMemory,
                Qos = MqttQos.AtMostOnce,
                Timestamp = _engine.Now,
                OriginNode = _engine.BrokerOptions.NodeName,
                IsSystem = true,
            }, publisher: null);
        }
        catch (Exception ex)
        {
            LogFailed(_logger, ex);
        }
    }

    private void Publish(string suffix, long value, DateTimeOffset now) =>
        Publish(suffix, value.ToString(CultureInfo.InvariantCulture), now);

    private void Publish(string suffix, string value, DateTimeOffset now)
    {
        var message = new BrokerMessage
        {
            Topic = _prefix + suffix,
            Payload = Encoding.UTF8.GetBytes(value),
            Qos = MqttQos.AtMostOnce,
            Retain = true,
            Timestamp = now,
            OriginNode = _engine.BrokerOptions.NodeName,
            IsSystem = true,
        };
        _ = _engine.PublishAsync(message, publisher: null);
    }

    /// <summary>EMQX's format: "3 days, 2 hours, 5 minutes, 1 seconds".</summary>
    public static string FormatUptime(TimeSpan uptime) => string.Create(CultureInfo.InvariantCulture,
        $"{uptime.Days} days, {uptime.Hours} hours, {uptime.Minutes} minutes, {uptime.Seconds} seconds");

    public void Dispose()
    {
        _engine.Alarms.Changed -= PublishAlarm;
        _timer?.Dispose();
    }

    [LoggerMessage(EventId = 30, Level = LogLevel.Error, Message = "Publishing $SYS topics failed")]
    private static partial void LogFailed(ILogger logger, Exception ex);
}
