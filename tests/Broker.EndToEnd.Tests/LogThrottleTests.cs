using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Per-client and per-message log events cannot fill the disk (log.throttle_window / log.throttle_burst), an operator
/// sees every event of one client with `ctl trace`, and ACL denials are counted in metrics (issue 17, item 5).
/// </summary>
public sealed class LogThrottleTests
{
    private static int Count(string transcript, string text)
    {
        var count = 0;
        for (var at = transcript.IndexOf(text, StringComparison.Ordinal); at >= 0; at = transcript.IndexOf(text, at + text.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    [Fact]
    public async Task DeniedPublishFlood_FewLinesAndASummary_TraceWritesEveryOne_MetricsCountAll()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.AclConf = "{deny, all, publish, [\"forbidden/#\"]}.\n{allow, all}.\n";
            o["log.throttle_window"] = "1s";
            o["log.throttle_burst"] = "5";
        });
        const string denied = "Client noisy may not publish to forbidden/x";

        // 2000 denied PUBLISHes from mosquitto_pub, then a marker through an allowed topic so they have all been read.
        await MosquittoClients.PublishAsync(broker, ["-i", "noisy", "-t", "forbidden/x"], Enumerable.Repeat("x", 2000));
        await using (var marker = await MosquittoClients.SubscribeAsync(broker, "-t", "open/marker"))
        {
            await MosquittoClients.PublishAsync(broker, ["-t", "open/marker", "-m", "done"]);
            await MosquittoClients.MessagesAsync(marker, 1);
        }
        await broker.WaitForLogAsync(l => l.Contains("more LogPublishDenied events suppressed", StringComparison.Ordinal), "the suppression summary");

        // At most the burst per window while it lasted (the flood may straddle two windows), not one line per message.
        var written = Count(broker.Transcript, denied);
        Assert.InRange(written, 1, 10);

        var trace = await CtlRunner.RunAsync(broker, "trace", "start", "client", "noisy");
        Assert.Equal((0, "client noisy"), (trace.ExitCode, trace.Stdout.Trim()));
        await MosquittoClients.PublishAsync(broker, ["-i", "noisy", "-t", "forbidden/x"], Enumerable.Repeat("x", 50));
        await broker.WaitForLogAsync(_ => Count(broker.Transcript, denied) >= written + 50, "50 traced denials");

        var metrics = await CtlRunner.RunAsync(broker, "broker", "metrics");
        Assert.Matches(@"(?m)^packets\.publish\.auth_error\s+: 2050$", metrics.Stdout);
        var stop = await CtlRunner.RunAsync(broker, "trace", "stop", "client", "noisy");
        Assert.Equal(0, stop.ExitCode);
        Assert.Equal("", (await CtlRunner.RunAsync(broker, "trace", "list")).Stdout.Trim());
    }
}
