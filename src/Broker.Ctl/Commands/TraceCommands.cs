using System.CommandLine;

namespace Broker.Ctl;

/// <summary>
/// <c>ctl trace list|start|stop</c> (EMQX's <c>emqx_ctl trace</c>): write every log event of one client or topic,
/// past the log throttle (<c>log.throttle_burst</c>), into the broker's log.
/// </summary>
internal static class TraceCommands
{
    public static Command Build() => new("trace", "Write every log event of a client or topic, past log.throttle_burst")
    {
        List(),
        Change("start", "Start tracing a client id or a topic filter", "api/v4/trace/", put: true),
        Change("stop", "Stop tracing a client id or a topic filter", "api/v4/trace/", put: false),
    };

    private static Command List()
    {
        var command = new Command("list", "The traced clients and topic filters");
        CtlCommands.SetAction(command, async (ctl, _, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/trace", ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                Print(ctl, answer.RootElement.GetProperty("data"));
        });
        return command;
    }

    private static Command Change(string name, string description, string path, bool put)
    {
        var type = new Argument<string>("type") { Description = "client or topic" };
        type.AcceptOnlyFromAmong("client", "topic");
        var target = new Argument<string>("name") { Description = "The client id or the topic filter" };
        var command = new Command(name, description) { type, target };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var url = path + parse.GetValue(type) + "?name=" + Uri.EscapeDataString(parse.GetValue(target)!);
            using var answer = put
                ? await ctl.Client.PutAsync(url, null, ct).ConfigureAwait(false)
                : await ctl.Client.DeleteAsync(url, ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                Print(ctl, answer.RootElement.GetProperty("data"));
        });
        return command;
    }

    private static void Print(CtlContext ctl, System.Text.Json.JsonElement data)
    {
        foreach (var client in data.GetProperty("clients").EnumerateArray())
            ctl.Out.WriteLine($"client {client.GetString()}");
        foreach (var topic in data.GetProperty("topics").EnumerateArray())
            ctl.Out.WriteLine($"topic {topic.GetString()}");
    }
}
