using Broker.Core.Metrics;
using Xunit;

namespace Broker.Core.Tests.Metrics;

/// <summary>Plugins' System.Diagnostics.Metrics instruments as the exporters read them.</summary>
public sealed class PluginMetricsTests
{
    [Fact]
    public void Snapshot_EachKindOfInstrument_ReadAsTheExportersShowIt()
    {
        using var metrics = new PluginMetrics();
        using var meter = metrics.CreateMeter("auth_x");
        var queries = meter.CreateCounter<long>("queries");
        var inFlight = meter.CreateUpDownCounter<int>("in_flight");
        var latency = meter.CreateHistogram<double>("latency_ms");
        var pool = 7;
        meter.CreateObservableGauge("pool", () => pool);
        meter.CreateObservableCounter("cache_hits", () => 40L);

        queries.Add(2, new KeyValuePair<string, object?>("db", "a"));
        queries.Add(3, new KeyValuePair<string, object?>("db", "b"));
        inFlight.Add(5);
        inFlight.Add(-2);
        latency.Record(1.5);
        latency.Record(2.5);

        var snapshot = metrics.Snapshot().ToDictionary(m => m.Name);
        Assert.Equal(["auth_x.cache_hits", "auth_x.in_flight", "auth_x.latency_ms", "auth_x.pool", "auth_x.queries"], snapshot.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((PluginMetricKind.Counter, 5.0), (snapshot["auth_x.queries"].Kind, snapshot["auth_x.queries"].Value));
        Assert.Equal((PluginMetricKind.Gauge, 3.0), (snapshot["auth_x.in_flight"].Kind, snapshot["auth_x.in_flight"].Value));
        Assert.Equal((PluginMetricKind.Histogram, 4.0, 2L), (snapshot["auth_x.latency_ms"].Kind, snapshot["auth_x.latency_ms"].Value, snapshot["auth_x.latency_ms"].Count));
        Assert.Equal((PluginMetricKind.Gauge, 7.0), (snapshot["auth_x.pool"].Kind, snapshot["auth_x.pool"].Value));
        // An observable counter reports its running total each time, never added to itself.
        metrics.Snapshot();
        Assert.Equal(40.0, metrics.Snapshot().Single(m => m.Name == "auth_x.cache_hits").Value);
        pool = 9;
        Assert.Equal(9.0, metrics.Snapshot().Single(m => m.Name == "auth_x.pool").Value);
    }

    [Fact]
    public void Snapshot_MeterDisposed_ItsInstrumentsLeave_AnotherCollectorNeverSawThem()
    {
        using var metrics = new PluginMetrics();
        using var other = new PluginMetrics();
        var meter = metrics.CreateMeter("gone");
        meter.CreateCounter<long>("x").Add(1);
        using var kept = metrics.CreateMeter("kept");
        kept.CreateCounter<long>("y").Add(1);
        other.CreateMeter("elsewhere").Dispose();

        Assert.Equal(["gone.x", "kept.y"], metrics.Snapshot().Select(m => m.Name));
        Assert.Empty(other.Snapshot());
        meter.Dispose();
        Assert.Equal(["kept.y"], metrics.Snapshot().Select(m => m.Name));
    }
}
