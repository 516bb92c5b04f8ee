using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>
/// <c>ctl banned list|add|del</c> (EMQX 4's <c>emqx_ctl banned</c>, API <c>/api/v4/banned</c>): clients refused at
/// CONNECT by client id, user name or peer address, until a time.
/// </summary>
internal static class BannedCommands
{
    private static readonly string[] Kinds = ["clientid", "username", "peerhost"];

    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("AS", "as"),
        TextTable.Field("WHO", "who"),
        new("UNTIL (UTC)", row => Time(row, "until")),
        new("SINCE (UTC)", row => Time(row, "at")),
        TextTable.Field("BY", "by"),
        TextTable.Field("REASON", "reason"),
    ];

    public static Command Build() => new("banned", "List, add and lift bans: clients refused at CONNECT by client id, user name or address")
    {
        List(),
        Add(),
        Delete(),
    };

    private static Option<string> As() => new Option<string>("--as")
    {
        Description = "What --who is: clientid, username or peerhost (an IP address)",
        Required = true,
        HelpName = "KIND",
    }.AcceptOnlyFromAmong(Kinds);

    private static Option<string> Who() => new("--who") { Description = "The client id, user name or IP address", Required = true, HelpName = "X" };

    private static Command List()
    {
        var command = new Command("list", "List the bans in force: kind, who, until when, since when, by whom, why");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/banned", ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "ban"));
        });
        return command;
    }

    private static Command Add()
    {
        var kind = As();
        var who = Who();
        var reason = new Option<string?>("--reason") { Description = "Why, for whoever reads the list later", HelpName = "TEXT" };
        var duration = new Option<string?>("--duration")
        {
            Description = "How long from now: 90s, 10m, 2h, 7d, or 1h30m (default 5m, as EMQX)",
            HelpName = "DURATION",
        };
        duration.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } text && !TryParseDuration(text, out _))
                result.AddError($"--duration '{text}' is not a duration such as 90s, 10m, 2h, 7d or 1h30m");
        });
        var until = new Option<string?>("--until") { Description = "Until this time (ISO 8601; UTC unless it says otherwise), instead of --duration", HelpName = "TIME" };
        until.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } text && !TryParseTime(text, out _))
                result.AddError($"--until '{text}' is not a time such as 2026-12-31T23:00:00Z");
        });
        var command = new Command("add",
            "Ban a client id, user name or address: new CONNECTs are refused (MQTT 5 0x8A Banned, 3.1.1 return code 5) and matching clients connected now are disconnected; adding it again replaces the ban")
        {
            kind, who, reason, duration, until,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(duration) is not null && result.GetResult(until) is not null)
                result.AddError("give --duration or --until, not both");
        });
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var end = parse.GetValue(until) is { } time && TryParseTime(time, out var at) ? at
                : DateTimeOffset.UtcNow + (parse.GetValue(duration) is { } text && TryParseDuration(text, out var span) ? span : TimeSpan.FromMinutes(5));
            var body = BanBody(parse.GetValue(kind)!, parse.GetValue(who)!, parse.GetValue(reason), end);
            using var answer = await ctl.Client.PostAsync("api/v4/banned", body, ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            var ban = answer.RootElement.GetProperty("data");
            ctl.Out.WriteLine($"Banned {TextTable.Text(ban, "as")} {TextTable.Text(ban, "who")} until {Time(ban, "until")} UTC");
        });
        return command;
    }

    private static Command Delete()
    {
        var kind = As();
        var who = Who();
        var command = new Command("del", "Lift a ban; exit 1 when there is no such ban") { kind, who };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var (k, w) = (parse.GetValue(kind)!, parse.GetValue(who)!);
            using var answer = await ctl.Client.DeleteAsync($"api/v4/banned/{ManagementClient.Segment(k)}/{ManagementClient.Segment(w)}", ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Lifted the ban on {k} {w}");
        });
        return command;
    }

    /// <summary>The JSON body of <c>POST /banned</c>; <c>by</c> is <c>ctl</c> and <c>at</c> is left to the broker (now).</summary>
    internal static string BanBody(string kind, string who, string? reason, DateTimeOffset until) => ManagementClient.JsonObject(json =>
    {
        json.WriteString("who", who);
        json.WriteString("as", kind);
        json.WriteString("reason", reason ?? "");
        json.WriteString("by", "ctl");
        json.WriteNumber("until", until.ToUnixTimeSeconds());
    });

    /// <summary>"90s", "10m", "2h", "7d", "1h30m"; a bare number is seconds. Positive, under a hundred years.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan duration)
    {
        const long MaxSeconds = 100L * 365 * 24 * 3600;
        duration = TimeSpan.Zero;
        long seconds = 0, number = 0;
        var digits = false;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                number = number * 10 + (c - '0');
                digits = true;
                if (number > MaxSeconds)
                    return false;
                continue;
            }
            long unit = c switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
            if (unit == 0 || !digits)
                return false;
            seconds += number * unit;
            (number, digits) = (0, false);
            if (seconds > MaxSeconds)
                return false;
        }
        seconds += number;
        if (seconds is <= 0 or > MaxSeconds)
            return false;
        duration = TimeSpan.FromSeconds(seconds);
        return true;
    }

    private static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);

    private static string Time(JsonElement row, string property) =>
        row.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number
            ? DateTimeOffset.FromUnixTimeSeconds(value.GetInt64()).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : "-";
}
