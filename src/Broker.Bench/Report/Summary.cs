using System.Globalization;
using System.Text;

namespace Broker.Bench.Report;

/// <summary>The human summary of a run: a few aligned lines, the same facts as the JSON.</summary>
internal static class Summary
{
    public static string Format(BenchReport r)
    {
        var s = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        s.Append(c, $"{r.Scenario} against {r.Broker} (MQTT {r.Version})");
        if (r.Label is not null)
            s.Append(c, $" [{r.Label}]");
        s.AppendLine();
        if (r.SubscriberBroker is not null)
            s.AppendLine(c, $"  subscribers  on {r.SubscriberBroker} (publishers on {r.Broker})");
        if (r.Scenario == "convergence")
        {
            s.AppendLine(c, $"  rounds       {r.Rounds}, {r.RoundTimeouts} timed out; QoS 0 every {r.PublishIntervalMicros / 1000.0:0.###} ms from each SUBACK until the first delivery ({r.Sent} published)");
            if (r.Convergence is { } cv)
                s.AppendLine(c, $"  convergence  ms p50 {cv.P50 / 1000.0:0.00}  p99 {cv.P99 / 1000.0:0.00}  max {cv.Max / 1000.0:0.00}  mean {cv.Mean / 1000.0:0.00}  (SUBACK to first delivery, n={cv.Count})");
            if (r.FirstDeliveryLatency is { } fl)
                s.AppendLine(c, $"  its trip µs  p50 {fl.P50}  p99 {fl.P99}  max {fl.Max}  (that message's send to receive, included above)");
        }
        else if (r.Scenario == "conn")
        {
            s.AppendLine(c, $"  connections  {r.Connected} of {r.Connections} connected, {r.ConnectFailures} failed, {r.Disconnected} dropped while held");
            s.AppendLine(c, $"  connect rate {r.ConnectRate:0.0}/s achieved (offered {r.ConnectRateOffered:0.#}/s)");
            if (r.ConnackLatency is { } cl)
                s.AppendLine(c, $"  CONNACK µs   p50 {cl.P50}  p99 {cl.P99}  p99.9 {cl.P999}  max {cl.Max}  (TCP connect to CONNACK, n={cl.Count})");
            if (r.FirstConnectFailure is not null)
                s.AppendLine(c, $"  first failure: {r.FirstConnectFailure}");
        }
        else
        {
            var rate = r.Rate is > 0 ? $"{r.Rate:0.#} msg/s offered ({r.Pacing} pacing)" : "as fast as possible";
            s.AppendLine(c, $"  setup        {r.Publishers} publisher(s), {r.Subscribers} subscriber(s), QoS {r.Qos}, {r.Size} B payload, {rate}{(r.Inflight is { } w ? $", in-flight {w}" : "")}");
            s.AppendLine(c, $"  window       {r.WindowSeconds:0.00}s after {r.WarmupSeconds:0.##}s warm-up");
            s.AppendLine(c, $"  throughput   sent {r.SendRate:0.0} msg/s, received {r.ReceiveRate:0.0} msg/s");
            s.AppendLine(c, $"  accounting   sent {r.Sent}, expected {r.Expected}, received {r.Received}, lost {r.Lost}, duplicates {r.Duplicates}, out of order {r.OutOfOrder}, rejected {r.Rejected}");
            if (r.Latency is { } l)
                s.AppendLine(c, $"  latency µs   p50 {l.P50}  p99 {l.P99}  p99.9 {l.P999}  max {l.Max}  mean {l.Mean:0.0}  (n={l.Count})");
            if (r.SendLateness is { } late)
                s.AppendLine(c, $"  send late µs p50 {late.P50}  p99 {late.P99}  p99.9 {late.P999}  max {late.Max}  (against each message's scheduled time, n={late.Count})");
            if (r.IdleSubscriptions is > 0)
            {
                s.AppendLine(c, $"  idle         {r.IdleSubscriptions} subscriptions on {r.IdleConnections} connection(s) (set up in {r.IdleSetupSeconds:0.00}s, before the traffic), {r.IdleDisconnected} dropped, {r.IdleDeliveries} deliveries to them");
                if (r.FirstIdleDisconnect is not null)
                    s.AppendLine(c, $"  first idle connection dropped: {r.FirstIdleDisconnect}");
            }
        }
        if (r.Disconnected > 0 && r.FirstDisconnect is not null)
            s.AppendLine(c, $"  disconnected {r.Disconnected}, first: {r.FirstDisconnect}");
        if (r.BrokerPid is { } pid)
        {
            var pids = r.BrokerPids is { } all ? string.Join('+', all) : pid.ToString(c);
            s.Append(c, $"  broker {pids,-6} CPU {r.BrokerCpuPercent:0.0}% of a core ({r.BrokerCpuSeconds:0.00}s)");
            if (r.BrokerCpuMicrosPerMessage is { } perMessage)
                s.Append(c, $", {perMessage:0.00} µs per delivered message");
            s.Append(c, $"; RSS {r.BrokerRssStartKb / 1024.0:0.0} → {r.BrokerRssEndKb / 1024.0:0.0} MB");
            s.AppendLine(r.BrokerRssPeakKb is { } peak ? string.Create(c, $" (peak {peak / 1024.0:0.0} MB)") : "");
            if (r.RssPerConnectionBytes is { } perConnection)
                s.AppendLine(c, $"  RSS per connection {perConnection / 1024.0:0.00} KB");
            foreach (var p in r.BrokerProcesses ?? [])
                s.AppendLine(c, $"    pid {p.Pid,-7} CPU {p.CpuPercent:0.0}% ({p.CpuSeconds:0.00}s); RSS {p.RssStartKb / 1024.0:0.0} → {p.RssEndKb / 1024.0:0.0} MB");
        }
        s.AppendLine(c, $"  generator    CPU {r.GeneratorCpuPercent:0.0}% of a core ({r.ProcessorCount} cores here; near {r.ProcessorCount * 100}% means the generator was the limit)");
        return s.ToString();
    }
}
