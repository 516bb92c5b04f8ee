using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Broker.Core.Metrics;

/// <summary>What one plugin instrument reads now: a counter's total, a gauge's last value, a histogram's count and sum.</summary>
/// <param name="Name">The plugin's name and the instrument's: <c>auth_redis.queries</c>.</param>
/// <param name="Kind">How exporters show it.</param>
/// <param name="Value">Counter: total; gauge: last value; histogram: sum.</param>
/// <param name="Count">Histogram: how many values were recorded; otherwise 0.</param>
/// <param name="Description">The instrument's description, for Prometheus' HELP.</param>
public sealed record PluginMetric(string Name, PluginMetricKind Kind, double Value, long Count, string? Description);

/// <summary>How a plugin instrument is exported.</summary>
public enum PluginMetricKind
{
    /// <summary>Counter and ObservableCounter: a running total.</summary>
    Counter,
    /// <summary>UpDownCounter, ObservableUpDownCounter, Gauge and ObservableGauge: a value now.</summary>
    Gauge,
    /// <summary>Histogram: count and sum of what was recorded.</summary>
    Histogram,
}

/// <summary>
/// Plugins' <see cref="System.Diagnostics.Metrics"/> instruments, read for the broker's exporters (management API
/// <c>/metrics</c>, Prometheus, $SYS, <c>ctl broker metrics</c>). Each plugin instance gets its own
/// <see cref="Meter"/> (<see cref="CreateMeter"/>), scoped to this collector so two brokers in one process (tests)
/// never see each other's; disposing it when the plugin stops removes its instruments from every export.
/// </summary>
/// <remarks>
/// A recording costs the plugin a short lock around one value kept here per instrument (the measurement callbacks
/// below); observable instruments are read only when an exporter asks (<see cref="Snapshot"/>). Nothing is kept per
/// tag: tags are summed into their instrument, so a plugin cannot grow the exports without bound.
/// </remarks>
internal sealed class PluginMetrics : IDisposable
{
    private readonly ConcurrentDictionary<Instrument, State> _states = new();
    private readonly Lock _lock = new();
    private MeterListener? _listener;

    /// <summary>A meter for plugin <paramref name="plugin"/>; its instruments are exported as <c>plugin.instrument</c>.</summary>
    public Meter CreateMeter(string plugin)
    {
        EnsureListening();
        return new Meter(new MeterOptions("broker.plugin." + plugin) { Scope = this, Tags = [new("plugin", plugin)] });
    }

    /// <summary>Every instrument of a running plugin, sorted by name; reads the observable ones now.</summary>
    public List<PluginMetric> Snapshot()
    {
        var listener = Volatile.Read(ref _listener);
        if (listener is null)
            return [];
        lock (_lock)
            listener.RecordObservableInstruments();
        var metrics = new List<PluginMetric>(_states.Count);
        foreach (var (instrument, state) in _states)
            metrics.Add(state.Read(NameOf(instrument), instrument.Description));
        metrics.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return metrics;
    }

    private void EnsureListening()
    {
        if (Volatile.Read(ref _listener) is not null)
            return;
        lock (_lock)
        {
            if (_listener is not null)
                return;
            var listener = new MeterListener
            {
                InstrumentPublished = (instrument, l) =>
                {
                    if (ReferenceEquals(instrument.Meter.Scope, this))
                    {
                        var (kind, adds) = KindOf(instrument);
                        var state = new State(kind, adds);
                        _states[instrument] = state;
                        l.EnableMeasurementEvents(instrument, state);
                    }
                },
                MeasurementsCompleted = (instrument, _) => _states.TryRemove(instrument, out State? _),
            };
            listener.SetMeasurementEventCallback<long>(static (_, value, _, state) => ((State)state!).Add(value));
            listener.SetMeasurementEventCallback<int>(static (_, value, _, state) => ((State)state!).Add(value));
            listener.SetMeasurementEventCallback<short>(static (_, value, _, state) => ((State)state!).Add(value));
            listener.SetMeasurementEventCallback<byte>(static (_, value, _, state) => ((State)state!).Add(value));
            listener.SetMeasurementEventCallback<double>(static (_, value, _, state) => ((State)state!).Add(value));
            listener.SetMeasurementEventCallback<float>(static (_, value, _, state) => ((State)state!).Add(value));
            listener.SetMeasurementEventCallback<decimal>(static (_, value, _, state) => ((State)state!).Add((double)value));
            listener.Start();
            Volatile.Write(ref _listener, listener);
        }
    }

    private static string NameOf(Instrument instrument) =>
        instrument.Meter.Name["broker.plugin.".Length..] + "." + instrument.Name;

    /// <summary>How the instrument is exported, and whether its measurements add (deltas) or replace (observations, gauges).</summary>
    private static (PluginMetricKind Kind, bool Adds) KindOf(Instrument instrument)
    {
        var type = instrument.GetType().IsGenericType ? instrument.GetType().GetGenericTypeDefinition() : instrument.GetType();
        if (type == typeof(Counter<>))
            return (PluginMetricKind.Counter, true);
        if (type == typeof(ObservableCounter<>))
            return (PluginMetricKind.Counter, false); // each observation is the running total
        if (type == typeof(UpDownCounter<>))
            return (PluginMetricKind.Gauge, true);
        if (type == typeof(Histogram<>))
            return (PluginMetricKind.Histogram, true);
        return (PluginMetricKind.Gauge, false); // Gauge, ObservableGauge, ObservableUpDownCounter: the value now
    }

    public void Dispose() => Volatile.Read(ref _listener)?.Dispose();

    /// <summary>One instrument's value: deltas add up (histograms also count them), observations and gauges replace it.</summary>
    private sealed class State(PluginMetricKind kind, bool adds)
    {
        private readonly Lock _lock = new();
        private double _value;
        private long _count;

        public void Add(double value)
        {
            lock (_lock)
            {
                _value = adds ? _value + value : value;
                if (kind == PluginMetricKind.Histogram)
                    _count++;
            }
        }

        public PluginMetric Read(string name, string? description)
        {
            lock (_lock)
                return new PluginMetric(name, kind, _value, _count, description);
        }
    }
}
