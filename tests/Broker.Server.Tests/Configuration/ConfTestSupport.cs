using Broker.Core.Configuration;
using Broker.Configuration;
using Microsoft.Extensions.Configuration;

namespace Broker.Server.Tests.Configuration;

/// <summary>A temp directory for .conf files, removed afterwards.</summary>
internal sealed class TempConf : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "broker-conf-tests-" + Guid.NewGuid().ToString("N"));

    public TempConf() => Directory.CreateDirectory(_directory);

    /// <summary>Writes <paramref name="lines"/> joined by '\n' and returns the path.</summary>
    public string Write(params string[] lines) => WriteNamed("broker.conf", lines);

    public string WriteNamed(string name, params string[] lines)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    public string PathOf(string name) => Path.Combine(_directory, name);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public static IConfigurationRoot Build(string path, IDictionary<string, string>? environment = null)
    {
        var builder = new ConfigurationBuilder().AddConfFile(path);
        if (environment is not null)
        {
            builder.AddBrokerEnvironment(environment);
        }

        return builder.Build();
    }
}

public enum SharedStrategy
{
    Random,
    RoundRobin,
    Sticky,
    HashClientId,
    HashTopic,
}

/// <summary>One property of every supported kind, shaped like the broker's own options.</summary>
internal sealed class SampleOptions
{
    [ConfKey("mqtt.max_packet_size", "Largest packet accepted, fixed header included.", Unit = ConfUnit.Bytes, Min = "1KB", Max = "256MB")]
    public long MaxPacketSize { get; set; } = 1024 * 1024;

    [ConfKey("mqtt.keepalive", "Keep-alive used when the client asks for none.", Unit = ConfUnit.Duration, Min = "1s", Max = "1d")]
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    [ConfKey("mqtt.retain_available", "Whether retained messages are supported.")]
    public bool RetainAvailable { get; set; } = true;

    [ConfKey("mqtt.max_clientid_len", "Longest client id accepted.", Min = "23", Max = "65535")]
    public int MaxClientIdLength { get; set; } = 65535;

    [ConfKey("mqtt.max_topic_levels", "Most levels a topic may have.")]
    public uint MaxTopicLevels { get; set; } = 128;

    [ConfKey("mqtt.upgrade_qos_ratio", "Share of messages to upgrade.\nA second line of description.", Min = "0", Max = "1")]
    public double UpgradeRatio { get; set; } = 0.75;

    [ConfKey("listener.tcp.external", "Address and port of the external MQTT/TCP listener.")]
    public string External { get; set; } = "0.0.0.0:1883";

    [ConfKey("listener.tcp.external.max_connections", "Most concurrent connections on this listener.")]
    public int MaxConnections { get; set; } = 1024000;

    [ConfKey("listener.tcp.external.backlog_port", "A ushort, for the test.")]
    public ushort BacklogPort { get; set; } = 1883;

    [ConfKey("listener.tcp.external.recbuf", "Receive buffer size.", Unit = ConfUnit.Bytes)]
    public int ReceiveBuffer { get; set; } = 64 * 1024;

    [ConfKey("broker.shared_subscription_strategy", "How a shared subscription picks a member.")]
    public SharedStrategy SharedStrategy { get; set; } = SharedStrategy.RoundRobin;

    [ConfKey("mqtt.session_expiry", "Cap on session expiry; unset means no cap.", Unit = ConfUnit.Duration, Example = "2h")]
    public TimeSpan? SessionExpiry { get; set; }

    [ConfKey("mqtt.max_inflight", "Cap on in-flight messages; unset means the client's receive maximum.")]
    public int? MaxInflight { get; set; }

    [ConfKey("mqtt.mountpoint", "Prefix added to every topic; unset means none.")]
    public string? Mountpoint { get; set; }

    [ConfKey("mqtt.banner", "A string whose default needs quotes.")]
    public string Banner { get; set; } = " padded ";

    [ConfKey("broker.sys_interval", "How often $SYS is published.")]
    public TimeSpan SysInterval { get; set; } = TimeSpan.FromMinutes(1);

    [ConfKey("broker.large_buffer", "A size in GB.", Unit = ConfUnit.Bytes)]
    public long LargeBuffer { get; set; } = 2L << 30;

    [ConfKey("broker.odd_size", "A size that is no whole KB.", Unit = ConfUnit.Bytes)]
    public long OddSize { get; set; } = 1500;

    [ConfKey("broker.fallback_strategy", "Nullable enum.")]
    public SharedStrategy? FallbackStrategy { get; set; } = SharedStrategy.HashClientId;

    [ConfKey("broker.debug", "A false bool.")]
    public bool Debug { get; set; }
}

internal sealed class LimitsOptions : IValidatableOptions
{
    [ConfKey("limits.soft", "Soft limit.")]
    public int Soft { get; set; } = 10;

    [ConfKey("limits.hard", "Hard limit.")]
    public int Hard { get; set; } = 100;

    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (Soft > Hard)
        {
            yield return ("limits.soft", $"must not exceed limits.hard ({Hard})");
        }
    }
}

internal sealed class BytesOnStringOptions
{
    [ConfKey("bad.unit", "Bytes on a string.", Unit = ConfUnit.Bytes)]
    public string Value { get; set; } = "";
}

internal sealed class BadBoundOptions
{
    [ConfKey("bad.bound", "Min that is no size.", Unit = ConfUnit.Bytes, Min = "lots")]
    public long Value { get; set; }
}

internal sealed class DuplicateKeyOptions
{
    [ConfKey("dup.key", "First.")]
    public int First { get; set; }

    [ConfKey("dup.key", "Second.")]
    public int Second { get; set; }
}
