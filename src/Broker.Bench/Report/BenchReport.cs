using System.Text.Json.Serialization;

namespace Broker.Bench.Report;

/// <summary>
/// One run's result: the JSON line of <c>--json</c> (snake_case, one object per line) and the source of the human
/// summary. Fields that do not apply to a scenario are null and left out of the JSON.
/// </summary>
internal sealed class BenchReport
{
    public string Scenario { get; set; } = "";
    public string? Label { get; set; }
    public string Broker { get; set; } = "";

    /// <summary>Where the subscribers were connected, when not to <see cref="Broker"/> (--sub-host, --sub-port).</summary>
    public string? SubscriberBroker { get; set; }
    public string Version { get; set; } = "";
    public int? Qos { get; set; }
    public int? Size { get; set; }
    public int? Publishers { get; set; }
    public int? Subscribers { get; set; }

    /// <summary>Offered msgs/s over all publishers; 0 = as fast as possible.</summary>
    public double? Rate { get; set; }

    public int? Inflight { get; set; }

    /// <summary>With a fixed rate: uncoordinated or ticked.</summary>
    public string? Pacing { get; set; }

    /// <summary>Uncoordinated pacing: how late messages left the generator against their schedule, in microseconds.</summary>
    public LatencyReport? SendLateness { get; set; }

    public double WarmupSeconds { get; set; }

    /// <summary>Length of the measured window (warm-up excluded), as it actually was.</summary>
    public double WindowSeconds { get; set; }

    /// <summary>PUBLISH packets written by all publishers over the whole run (warm-up included).</summary>
    public long? Sent { get; set; }

    /// <summary>Deliveries the subscribers should have got: sent times the subscribers of each message.</summary>
    public long? Expected { get; set; }

    /// <summary>First deliveries received (duplicates not counted).</summary>
    public long? Received { get; set; }

    /// <summary>Expected deliveries never received, counted after the drain.</summary>
    public long? Lost { get; set; }

    public long? Duplicates { get; set; }
    public long? OutOfOrder { get; set; }

    /// <summary>QoS 1/2 publishes the broker refused (MQTT 5 reason code 0x80 or more in PUBACK / PUBREC).</summary>
    public long? Rejected { get; set; }

    /// <summary>PUBLISH packets sent per second in the measured window.</summary>
    public double? SendRate { get; set; }

    /// <summary>Deliveries received per second in the measured window.</summary>
    public double? ReceiveRate { get; set; }

    public LatencyReport? Latency { get; set; }

    /// <summary>Traffic scenarios: filters held by the idle connections during the run (--idle-subscriptions).</summary>
    public int? IdleSubscriptions { get; set; }

    /// <summary>Connections holding them; not in publishers, subscribers, or any count above.</summary>
    public int? IdleConnections { get; set; }

    /// <summary>Seconds from the first idle connect to the last SUBACK, before the traffic started.</summary>
    public double? IdleSetupSeconds { get; set; }

    /// <summary>Idle connections that ended before the run did.</summary>
    public int? IdleDisconnected { get; set; }

    /// <summary>PUBLISH packets the idle connections got; their filters match nothing the run sends, so 0.</summary>
    public long? IdleDeliveries { get; set; }

    public string? FirstIdleDisconnect { get; set; }

    // convergence
    public int? Rounds { get; set; }

    /// <summary>Rounds whose subscriber got nothing within --round-timeout (not in the percentiles).</summary>
    public int? RoundTimeouts { get; set; }

    /// <summary>Time between two publishes while a round waits for its first delivery.</summary>
    public double? PublishIntervalMicros { get; set; }

    /// <summary>Per round: the subscriber's SUBACK to its first delivery (published on the other broker), µs.</summary>
    public LatencyReport? Convergence { get; set; }

    /// <summary>Per round: that first delivered message's own send-to-receive time, µs (part of the convergence).</summary>
    public LatencyReport? FirstDeliveryLatency { get; set; }

    // conn
    public int? Connections { get; set; }
    public double? ConnectRateOffered { get; set; }
    public int? Connected { get; set; }
    public int? ConnectFailures { get; set; }
    public double? ConnectRate { get; set; }

    /// <summary>From the start of the TCP connect to the CONNACK, per successful connection (authentication included).</summary>
    public LatencyReport? ConnackLatency { get; set; }

    public string? FirstConnectFailure { get; set; }
    public double? RssPerConnectionBytes { get; set; }

    /// <summary>
    /// Broker CPU microseconds per connection made, from the first connect to the last CONNACK (a TLS handshake's cost,
    /// or a login's): what sets the connect rate a broker can reach when the generator, not the broker, is the limit.
    /// </summary>
    public double? BrokerCpuMicrosPerConnect { get; set; }

    /// <summary>The generator's CPU microseconds per connection made, over the same span.</summary>
    public double? GeneratorCpuMicrosPerConnect { get; set; }

    /// <summary>Connections the broker closed during the run.</summary>
    public int Disconnected { get; set; }

    public string? FirstDisconnect { get; set; }

    // --broker-pid (several: every number below is their sum; broker_processes has each one)
    public int? BrokerPid { get; set; }

    /// <summary>Every --broker-pid; null with one.</summary>
    public List<int>? BrokerPids { get; set; }

    /// <summary>Each --broker-pid's own CPU and RSS, when there are several.</summary>
    public List<ProcessReport>? BrokerProcesses { get; set; }
    public double? BrokerCpuSeconds { get; set; }

    /// <summary>Broker CPU time over the window as % of one core.</summary>
    public double? BrokerCpuPercent { get; set; }

    /// <summary>Broker CPU microseconds per delivery received in the window.</summary>
    public double? BrokerCpuMicrosPerMessage { get; set; }

    public long? BrokerRssStartKb { get; set; }
    public long? BrokerRssEndKb { get; set; }
    public long? BrokerRssPeakKb { get; set; }

    /// <summary>This generator's CPU time over the window as % of one core.</summary>
    public double GeneratorCpuPercent { get; set; }

    public int ProcessorCount { get; set; } = Environment.ProcessorCount;
}

/// <summary>One broker process's share of a run (several --broker-pid).</summary>
internal sealed class ProcessReport
{
    public int Pid { get; set; }
    public double CpuSeconds { get; set; }

    /// <summary>% of one core over the window.</summary>
    public double CpuPercent { get; set; }

    public long RssStartKb { get; set; }
    public long RssEndKb { get; set; }
}

/// <summary>
/// Microsecond percentiles: latency from send to receive over first deliveries sent in the measured window, or how late
/// sends left against their schedule.
/// </summary>
internal sealed class LatencyReport
{
    public static LatencyReport Of(Measure.LatencyHistogram histogram) => new()
    {
        Count = histogram.Count,
        Mean = Math.Round(histogram.Mean, 1),
        P50 = histogram.Percentile(50),
        P99 = histogram.Percentile(99),
        P999 = histogram.Percentile(99.9),
        Max = histogram.Max,
    };

    public long Count { get; set; }
    public double Mean { get; set; }
    public long P50 { get; set; }
    public long P99 { get; set; }
    public long P999 { get; set; }
    public long Max { get; set; }
}

/// <summary>Source-generated JSON for the report line.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
