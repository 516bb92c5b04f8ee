using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Broker.Bench.Client;
using Broker.Bench.Report;
using Broker.Bench.Scenarios;
using Broker.Protocol;

namespace Broker.Bench;

/// <summary>
/// The command tree: one command per scenario, sharing the connection and output options. Exit codes: 0 the run
/// finished (loss or not: read the report), 1 the run could not go on (refused connection, no SUBACK, bad pid), 2 bad
/// usage.
/// </summary>
internal static class BenchCommands
{
    private static readonly Option<string> Host = new("--host")
    {
        Description = "Broker host name or IPv4 address",
        DefaultValueFactory = _ => "127.0.0.1",
        HelpName = "HOST",
    };

    private static readonly Option<int> Port = Validated(new Option<int>("--port")
        {
            Description = "Broker MQTT/TCP port",
            DefaultValueFactory = _ => 1883,
            HelpName = "PORT",
        },
        v => v is > 0 and < 65536, "expected a port, 1 to 65535");

    private static readonly Option<string?> SubHost = new("--sub-host")
    {
        Description = "Broker the subscribers connect to, when not the publishers' (e.g. another node of a cluster) [default: --host]",
        HelpName = "HOST",
    };

    private static readonly Option<int?> SubPort = Validated(new Option<int?>("--sub-port")
        {
            Description = "The subscribers' broker port [default: --port]",
            HelpName = "PORT",
        },
        v => v is null or > 0 and < 65536, "expected a port, 1 to 65535");

    private static readonly Option<string?> Settle = Validated(new Option<string?>("--settle")
        {
            Description = "Pause between the subscribers' SUBACKs and the first publish, so a cluster's routes reach the publishers' node [default: 1s with subscribers on another broker, else 0]",
            HelpName = "TIME",
        },
        v => v is null || IsDuration(v), "expected a duration such as 1s or 500ms");

    private static readonly Option<string> TransportOption = Validated(new Option<string>("--transport")
        {
            Description = "What MQTT runs over: tcp, tls (server certificate not checked), ws or wss (WebSocket upgrade on --ws-path, subprotocol mqtt); every handshake is a full one",
            DefaultValueFactory = _ => "tcp",
            HelpName = "tcp|tls|ws|wss",
        },
        v => v is "tcp" or "tls" or "ws" or "wss", "expected tcp, tls, ws or wss");

    private static readonly Option<string> WsPath = new("--ws-path")
    {
        Description = "The WebSocket path (ws, wss)",
        DefaultValueFactory = _ => "/mqtt",
        HelpName = "PATH",
    };

    private static readonly Option<string> Version = Validated(new Option<string>("--version")
        {
            Description = "MQTT protocol version: 3.1.1 or 5",
            DefaultValueFactory = _ => "3.1.1",
            HelpName = "3.1.1|5",
        },
        v => v is "3.1.1" or "4" or "5" or "5.0", "expected 3.1.1 or 5");

    private static readonly Option<string?> IfAddr = Validated(new Option<string?>("--ifaddr")
        {
            Description = "Local IPv4 addresses to connect from, comma-separated, used in turn (emqtt_bench's option). "
                + "Against a loopback broker, 127.0.0.2,127.0.0.3,... spread many connections over several source "
                + "addresses, so the kernel's search for a free ephemeral port stays cheap [default: the kernel chooses]",
            HelpName = "ADDR,...",
        },
        v => v is null || TryParseAddresses(v, out _), "expected IPv4 addresses separated by commas");

    private static readonly Option<string?> Username = new("--username")
    {
        Description = "User name sent in CONNECT; in conn, {n} is replaced by the connection's number (a fleet of users) [default: none, anonymous]",
        HelpName = "NAME",
    };

    private static readonly Option<string?> Password = new("--password")
    {
        Description = "Password sent in CONNECT, {n} as in --username (visible in ps; for test brokers)",
        HelpName = "PASSWORD",
    };

    private static readonly Option<int> KeepAlive = Validated(new Option<int>("--keepalive")
        {
            Description = "Keep alive in seconds sent in CONNECT; every connection sends PINGREQ each half of it (0 = off)",
            DefaultValueFactory = _ => 60,
            HelpName = "SECONDS",
        },
        v => v is >= 0 and <= 65535, "expected 0 to 65535 seconds");

    private static readonly Option<string> Duration = Validated(new Option<string>("--duration")
        {
            Description = "Measured window (after the warm-up), e.g. 10s, 500ms, 2m; for conn, how long the connections are held",
            DefaultValueFactory = _ => "10s",
            HelpName = "TIME",
        },
        v => IsDuration(v) && Parse(v) > TimeSpan.Zero, "expected a positive duration such as 10s, 500ms or 2m");

    private static readonly Option<string> Warmup = Validated(new Option<string>("--warmup")
        {
            Description = "Publishing before the measured window starts; excluded from rates, latency and CPU",
            DefaultValueFactory = _ => "2s",
            HelpName = "TIME",
        },
        v => IsDuration(v), "expected a duration such as 2s, 500ms or 1m");

    private static readonly Option<string> Drain = Validated(new Option<string>("--drain-timeout")
        {
            Description = "After publishing stops, how long to wait for the last deliveries and acks before counting losses",
            DefaultValueFactory = _ => "5s",
            HelpName = "TIME",
        },
        v => IsDuration(v), "expected a duration such as 5s, 500ms or 1m");

    private static readonly Option<int> Qos = Validated(new Option<int>("--qos")
        {
            Description = "QoS of publishes and subscriptions: 0, 1 or 2",
            DefaultValueFactory = _ => 0,
            HelpName = "0|1|2",
        },
        v => v is >= 0 and <= 2, "expected 0, 1 or 2");

    private static readonly Option<int> Size = Validated(new Option<int>("--size")
        {
            Description = $"Payload bytes per message; at least {BenchPayload.Size} (the run id, publisher, sequence number and send time)",
            DefaultValueFactory = _ => 64,
            HelpName = "BYTES",
        },
        v => v is >= BenchPayload.Size and <= 256 * 1024 * 1024, "expected 24 bytes to 256 MB");

    private static readonly Option<double> Rate = Validated(new Option<double>("--rate")
        {
            Description = "Fixed offered rate in messages per second over all publishers; without it, as fast as possible",
            DefaultValueFactory = _ => 0,
            HelpName = "MSGS/S",
        },
        v => v >= 0 && double.IsFinite(v), "expected 0 (as fast as possible) or a positive rate");

    private static readonly Option<string> PacingOption = Validated(new Option<string>("--pacing")
        {
            Description = "With --rate: uncoordinated (each publisher sends every message alone at its own scheduled time, on its own phase, as devices on their own clocks do) or ticked (one 1 ms tick wakes every due publisher and they send in turn)",
            DefaultValueFactory = _ => "uncoordinated",
            HelpName = "uncoordinated|ticked",
        },
        v => v is "uncoordinated" or "ticked", "expected uncoordinated or ticked");

    private static readonly Option<int> Inflight = Validated(new Option<int>("--inflight")
        {
            Description = "QoS 1/2: unacknowledged messages allowed per publisher (capped by an MQTT 5 broker's Receive Maximum)",
            DefaultValueFactory = _ => 32,
            HelpName = "W",
        },
        v => v is >= 1 and <= 65_535, "expected 1 to 65535");

    private static readonly Option<int> IdleSubscriptions = Validated(new Option<int>("--idle-subscriptions")
        {
            Description = "Before the traffic, subscribe (QoS 0) this many filters on unrelated topics (idle/<run>/...: 90 % exact, 9 % +, 1 % #) from extra connections that stay idle for the run; not counted in the traffic's numbers",
            DefaultValueFactory = _ => 0,
            HelpName = "N",
        },
        v => v >= 0, "expected 0 or more");

    private static readonly Option<int> IdleConnections = Validated(new Option<int>("--idle-connections")
        {
            Description = "Connections sharing the --idle-subscriptions filters (at most one per filter); many filters per SUBSCRIBE",
            DefaultValueFactory = _ => 100,
            HelpName = "K",
        },
        v => v is >= 1 and <= 100_000, "expected 1 to 100000");

    private static readonly Option<bool> PersistentSessions = new("--persistent-sessions")
    {
        Description = "Every publisher and subscriber connects with a persistent session (clean session 0; MQTT 5: clean start 0, session expiry 300 s), so a broker with persistence writes their messages to disk",
    };

    private static readonly Option<string?> BrokerPid = Validated(new Option<string?>("--broker-pid")
        {
            Description = "Process id of the broker on this machine: report its CPU time (/proc/PID/stat) and RSS (/proc/PID/status) over the window; several, comma-separated (a cluster's nodes): summed, and each reported",
            HelpName = "PID[,PID...]",
        },
        v => v is null || TryParsePids(v, out _), "expected process ids separated by commas");

    private static readonly Option<bool> Json = new("--json")
    {
        Description = "Print the report as one JSON line on stdout (the human summary goes to stderr)",
    };

    private static readonly Option<bool> Quiet = new("--quiet")
    {
        Description = "No progress lines on stderr",
    };

    private static readonly Option<string?> Label = new("--label")
    {
        Description = "Free text copied into the report (e.g. which broker this was)",
        HelpName = "TEXT",
    };

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("""
            MQTT load generator in the spirit of emqtt_bench, for any MQTT 3.1.1 / 5.0 broker.
            Every payload carries the publisher's sequence number and send time, so a run reports messages lost,
            duplicated and out of order, latency percentiles, and rates over the measured window (warm-up excluded).
            Progress goes to stderr once a second; the summary (or, with --json, one JSON line) to stdout.
            Exit codes: 0 the run finished (check lost/dup in the report), 1 it could not run, 2 bad usage.
            """);
        root.Add(Traffic(Scenario.FanIn, "fanin", "P publishers, each on its own topic, to one subscriber on a wildcard filter", "--publishers", "Publishers", 10));
        root.Add(Traffic(Scenario.FanOut, "fanout", "One publisher to S subscribers of its topic", "--subscribers", "Subscribers", 10));
        root.Add(Traffic(Scenario.P2p, "p2p", "N publisher/subscriber pairs, each pair on its own topic", "--pairs", "Publisher/subscriber pairs", 10));
        root.Add(Conn());
        root.Add(Convergence());
        return root;
    }

    private static readonly Option<int> Rounds = Validated(new Option<int>("--rounds")
        {
            Description = "Rounds: each subscribes a fresh topic and waits for the first message published to it",
            DefaultValueFactory = _ => 100,
            HelpName = "K",
        },
        v => v is >= 1 and <= 1_000_000, "expected 1 to 1000000");

    private static readonly Option<string> Interval = Validated(new Option<string>("--interval")
        {
            Description = "Time between two QoS 0 publishes while a round waits for its first delivery (the measure's resolution)",
            DefaultValueFactory = _ => "1ms",
            HelpName = "TIME",
        },
        v => IsDuration(v) && Parse(v) > TimeSpan.Zero, "expected a positive duration such as 1ms");

    private static readonly Option<string> RoundTimeout = Validated(new Option<string>("--round-timeout")
        {
            Description = "A round with no delivery after this long counts as timed out and the next begins",
            DefaultValueFactory = _ => "5s",
            HelpName = "TIME",
        },
        v => IsDuration(v) && Parse(v) > TimeSpan.Zero, "expected a positive duration such as 5s");

    private static Command Convergence()
    {
        var command = new Command("convergence", "Route convergence across two brokers (a cluster's nodes): K rounds of subscribe a fresh topic on --sub-host/--sub-port, then publish QoS 0 to it on --host/--port every --interval from the SUBACK until the first message arrives; reports SUBACK-to-first-delivery p50/p99/max")
        {
            Host, Port, SubHost, SubPort, TransportOption, WsPath, IfAddr, Version, Username, Password, KeepAlive, Rounds, Interval, RoundTimeout,
            BrokerPid, Json, Quiet, Label,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var settings = ConvergenceSettings(parse);
            return RunAsync(settings, ct => new ConvergenceScenario(settings, Console.Error).RunAsync(ct), cancellationToken);
        });
        return command;
    }

    internal static BenchSettings ConvergenceSettings(ParseResult parse) => Common(parse, Scenario.Convergence) with
    {
        SubHost = parse.GetValue(SubHost),
        SubPort = parse.GetValue(SubPort),
        Rounds = parse.GetValue(Rounds),
        PublishInterval = Seconds(parse, Interval),
        RoundTimeout = Seconds(parse, RoundTimeout),
    };

    private static Command Traffic(Scenario scenario, string name, string description, string countName, string countDescription, int countDefault)
    {
        var count = Validated(new Option<int>(countName) { Description = countDescription, DefaultValueFactory = _ => countDefault, HelpName = "N" },
            v => v >= 1, "expected at least 1");
        var command = new Command(name, description)
        {
            Host, Port, SubHost, SubPort, Settle, TransportOption, WsPath, IfAddr, Version, Username, Password, KeepAlive, Qos, Size, Duration, Warmup, Drain, Rate, PacingOption, Inflight, count,
            IdleSubscriptions, IdleConnections, PersistentSessions, BrokerPid, Json, Quiet, Label,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var settings = TrafficSettings(parse, scenario, count);
            return RunAsync(settings, ct => new TrafficScenario(settings, Console.Error).RunAsync(ct), cancellationToken);
        });
        return command;
    }

    /// <summary>The settings of a parsed fanin, fanout or p2p command line (<paramref name="count"/>: its N option).</summary>
    internal static BenchSettings TrafficSettings(ParseResult parse, Scenario scenario, Option<int> count)
    {
        var n = parse.GetValue(count);
        return Common(parse, scenario) with
        {
            Qos = parse.GetValue(Qos),
            Size = parse.GetValue(Size),
            Warmup = Seconds(parse, Warmup),
            DrainTimeout = Seconds(parse, Drain),
            Rate = parse.GetValue(Rate),
            Pacing = parse.GetValue(PacingOption) == "ticked" ? Pacing.Ticked : Pacing.Uncoordinated,
            Inflight = parse.GetValue(Inflight),
            Publishers = scenario == Scenario.FanOut ? 1 : n,
            Subscribers = scenario switch { Scenario.FanOut => n, Scenario.FanIn => 1, _ => n },
            IdleSubscriptions = parse.GetValue(IdleSubscriptions),
            IdleConnections = parse.GetValue(IdleConnections),
            PersistentSessions = parse.GetValue(PersistentSessions),
            SubHost = parse.GetValue(SubHost),
            SubPort = parse.GetValue(SubPort),
            Settle = parse.GetValue(Settle) is { } settle ? Parse(settle) : null,
        };
    }

    /// <summary>Parses a fanin, fanout, p2p or convergence command line into its settings (for tests); null if it has errors.</summary>
    internal static BenchSettings? ParseTraffic(params string[] arguments)
    {
        var root = BuildRoot();
        var parse = root.Parse(arguments);
        if (parse.Errors.Count > 0 || parse.CommandResult.Command is not { } command || command == root)
            return null;
        if (command.Name == "convergence")
            return ConvergenceSettings(parse);
        var scenario = command.Name switch { "fanin" => Scenario.FanIn, "fanout" => Scenario.FanOut, "p2p" => Scenario.P2p, _ => (Scenario?)null };
        if (scenario is null)
            return null;
        var count = command.Options.OfType<Option<int>>().Single(o => o.Name is "--publishers" or "--subscribers" or "--pairs");
        return TrafficSettings(parse, scenario.Value, count);
    }

    private static Command Conn()
    {
        var connections = Validated(new Option<int>("--connections") { Description = "Connections to open and hold", DefaultValueFactory = _ => 1000, HelpName = "C" },
            v => v >= 1, "expected at least 1");
        var rate = Validated(new Option<double>("--conn-rate") { Description = "New connections per second", DefaultValueFactory = _ => 1000, HelpName = "R" },
            v => v > 0 && double.IsFinite(v), "expected a positive rate");
        var timeout = Validated(new Option<string>("--connect-timeout")
        {
            Description = "Per connection: TCP connect plus CONNACK within this time, else it counts as failed",
            DefaultValueFactory = _ => "10s",
            HelpName = "TIME",
        },
            v => IsDuration(v) && Parse(v) > TimeSpan.Zero, "expected a positive duration such as 10s");
        var pending = Validated(new Option<int>("--max-pending")
            {
                Description = "Connection attempts waiting for their CONNACK at once; the pacing waits while this many are open, so a broker slower than --conn-rate shows as a lower achieved rate instead of timeouts",
                DefaultValueFactory = _ => 1000,
                HelpName = "N",
            },
            v => v >= 1, "expected at least 1");
        var subscribe = new Option<string?>("--subscribe")
        {
            Description = "Each connection subscribes to this filter (QoS 1) after its CONNACK; with --persistent-sessions the sessions keep it after the run, e.g. to queue messages for a restart test",
            HelpName = "FILTER",
        };
        var command = new Command("conn", "Open C idle connections at R per second and hold them for the duration; with --broker-pid, the broker's RSS per connection")
        {
            Host, Port, TransportOption, WsPath, IfAddr, Version, Username, Password, KeepAlive, Duration, connections, rate, timeout, pending,
            PersistentSessions, subscribe, BrokerPid, Json, Quiet, Label,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var settings = Common(parse, Scenario.Conn) with
            {
                Connections = parse.GetValue(connections),
                ConnectRate = parse.GetValue(rate),
                ConnectTimeout = Seconds(parse, timeout),
                MaxPendingConnects = parse.GetValue(pending),
                PersistentSessions = parse.GetValue(PersistentSessions),
                SubscribeFilter = parse.GetValue(subscribe),
            };
            return RunAsync(settings, ct => new ConnScenario(settings, Console.Error).RunAsync(ct), cancellationToken);
        });
        return command;
    }

    private static BenchSettings Common(ParseResult parse, Scenario scenario) => new()
    {
        Scenario = scenario,
        Host = parse.GetValue(Host)!,
        Port = parse.GetValue(Port),
        Transport = parse.GetValue(TransportOption) switch
        {
            "tls" => Client.TransportKind.Tls,
            "ws" => Client.TransportKind.Ws,
            "wss" => Client.TransportKind.Wss,
            _ => Client.TransportKind.Tcp,
        },
        WsPath = parse.GetValue(WsPath)!,
        LocalAddresses = TryParseAddresses(parse.GetValue(IfAddr), out var local) ? local : [],
        Version = parse.GetValue(Version) is "5" or "5.0" ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311,
        Username = parse.GetValue(Username),
        Password = parse.GetValue(Password),
        KeepAlive = (ushort)Math.Clamp(parse.GetValue(KeepAlive), 0, ushort.MaxValue),
        Duration = Seconds(parse, Duration),
        BrokerPids = TryParsePids(parse.GetValue(BrokerPid), out var pids) ? pids : [],
        Json = parse.GetValue(Json),
        Quiet = parse.GetValue(Quiet),
        Label = parse.GetValue(Label),
    };

    private static async Task<int> RunAsync(BenchSettings settings, Func<CancellationToken, Task<BenchReport>> run, CancellationToken cancellationToken)
    {
        BenchReport report;
        try
        {
            report = await run(cancellationToken).ConfigureAwait(false);
        }
        catch (BenchException ex)
        {
            await Console.Error.WriteLineAsync("bench: " + ex.Message).ConfigureAwait(false);
            return 1;
        }
        var summary = Summary.Format(report);
        if (settings.Json)
        {
            await Console.Error.WriteAsync(summary).ConfigureAwait(false);
            await Console.Out.WriteLineAsync(JsonSerializer.Serialize(report, BenchJsonContext.Default.BenchReport)).ConfigureAwait(false);
        }
        else
        {
            await Console.Out.WriteAsync(summary).ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary>Adds a parse-time check, so a bad value is a usage error (exit 2) naming the option.</summary>
    private static Option<T> Validated<T>(Option<T> option, Func<T, bool> isValid, string expected)
    {
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<T>();
            if (!isValid(value))
                result.AddError($"{option.Name} {value}: {expected}");
        });
        return option;
    }

    /// <summary>A comma-separated list of IPv4 addresses (empty or null: none).</summary>
    internal static bool TryParseAddresses(string? text, out IReadOnlyList<IPAddress> addresses)
    {
        var list = new List<IPAddress>();
        addresses = list;
        if (string.IsNullOrWhiteSpace(text))
            return true;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!IPAddress.TryParse(part, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                return false;
            list.Add(address);
        }
        return true;
    }

    /// <summary>A comma-separated list of process ids (empty or null: none).</summary>
    internal static bool TryParsePids(string? text, out IReadOnlyList<int> pids)
    {
        var list = new List<int>();
        pids = list;
        if (string.IsNullOrWhiteSpace(text))
            return true;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
                return false;
            list.Add(pid);
        }
        return true;
    }

    private static bool IsDuration(string? text) => TryParseDuration(text ?? "", out _);

    private static TimeSpan Parse(string? text) => TryParseDuration(text ?? "", out var value) ? value : TimeSpan.Zero;

    private static TimeSpan Seconds(ParseResult parse, Option<string> option) => Parse(parse.GetValue(option));

    /// <summary>Parses <c>10s</c>, <c>500ms</c>, <c>2m</c>, <c>1h</c>, or a plain number of seconds.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        text = text.Trim();
        var (number, scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || amount < 0 || !double.IsFinite(amount))
            return false;
        value = TimeSpan.FromSeconds(amount * scale);
        return true;
    }
}
