using Broker.PluginHost;
using System.Text.Json;
using Broker.Cluster;
using Broker.Core.Hosting;
using Broker.Core.Sys;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;

namespace Broker.Server.Management;

/// <summary>
/// The cluster in the API. Lists EMQX 4 answers for the whole cluster (<c>/clients</c>, <c>/subscriptions</c>,
/// <c>/stats</c>, <c>/metrics</c>, <c>/nodes</c>, <c>/brokers</c>) are gathered here: this node's part directly, every
/// other running node's over NATS request/reply (<see cref="ClusterNode.AskAsync"/>), all at once, each within
/// <see cref="AskTimeout"/>; a node that is down or does not answer in time is named in <c>node_errors</c> and the
/// answer holds the rest. <c>/nodes/{node}/...</c> asks that node alone. Routes need no asking: every node holds the
/// others' (the replicated route table).
/// </summary>
internal static partial class ManagementApi
{
    /// <summary>How long a cluster-wide answer waits for another node.</summary>
    internal static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Which nodes a request covers: this one, the others (all, or <see cref="Only"/>).</summary>
    private readonly record struct Scope(bool Self, bool Others, string? Only);

    /// <summary>The other nodes' parts of an answer, and the nodes whose part is missing.</summary>
    private sealed record Gathered(List<(string Node, ClusterAnswer Answer)> Answers, NodeError[]? Errors);

    /// <summary>
    /// <c>GET /api/v5/nodes</c>, and the membership changes <c>ctl cluster</c> makes (EMQX 4 has them on its command
    /// line only: its ctl talks to the node directly, ours to this API): <c>POST /api/v5/cluster/join</c>
    /// <c>{"nats":"nats://host:port"}</c>, <c>POST /api/v5/cluster/leave</c>, and <c>DELETE
    /// /api/v5/cluster/{node}/force_leave</c> as EMQX 5 names it.
    /// </summary>
    private static void MapCluster(RouteGroupBuilder v5, BrokerCore core, ClusterMembership? cluster)
    {
        v5.MapGet("/nodes", () => Ok(ClusterNodesOf(core, cluster), ManagementJsonContext.Default.ApiResponseClusterNodeViewArray));
        if (cluster is null)
            return;
        v5.MapPost("/cluster/join", async (HttpRequest request, CancellationToken cancel) =>
        {
            var (body, bad) = await ReadJsonAsync(request, ManagementJsonContext.Default.ClusterJoinRequest).ConfigureAwait(false);
            if (bad is not null)
                return bad;
            if (string.IsNullOrWhiteSpace(body?.Nats))
                return Error(StatusCodes.Status400BadRequest, ApiCodes.MissingParameter, "nats is required: the NATS URL to join, e.g. {\"nats\":\"nats://10.0.0.1:4222\"}");
            return Changed(await cluster.JoinAsync(body.Nats, cancel).ConfigureAwait(false), cluster);
        });
        v5.MapPost("/cluster/leave", async (CancellationToken cancel) => Changed(await cluster.LeaveAsync(cancel).ConfigureAwait(false), cluster));
        v5.MapDelete("/cluster/{node}/force_leave", (string node) => Changed(cluster.ForceLeave(node), cluster));
    }

    private static IResult Changed(MembershipResult result, ClusterMembership cluster) => result.Error switch
    {
        MembershipError.None => Ok(new ClusterChangeView { Message = result.Message, Membership = cluster.Membership },
            ManagementJsonContext.Default.ApiResponseClusterChangeView),
        MembershipError.NotFound => Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, result.Message),
        MembershipError.Conflict => Error(StatusCodes.Status409Conflict, ApiCodes.BadParameter, result.Message),
        MembershipError.Unreachable => Error(StatusCodes.Status502BadGateway, ApiCodes.UnknownError, result.Message),
        _ => Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, result.Message),
    };

    internal static ClusterNodeView[] ClusterNodesOf(BrokerCore core, ClusterMembership? membership)
    {
        if (membership?.Node is not { } cluster)
        {
            var uptime = core.Status.Now - core.Status.StartedAt;
            return
            [
                new ClusterNodeView
                {
                    Node = core.Status.NodeName, Self = true, NodeStatus = core.Status.IsShuttingDown ? "stopping" : "running",
                    Uptime = SysPublisher.FormatUptime(uptime), UptimeSeconds = (long)uptime.TotalSeconds,
                    Connections = core.Status.Connections, Routes = core.Status.RouteCount, ForwardedIn = 0, ForwardDropped = 0,
                    Membership = membership?.Membership ?? "off",
                },
            ];
        }
        var status = cluster.Status();
        var views = new ClusterNodeView[status.Count];
        for (var i = 0; i < views.Length; i++)
        {
            var node = status[i];
            views[i] = new ClusterNodeView
            {
                Node = node.Name,
                Self = node.IsSelf,
                NodeStatus = node.IsSelf && core.Status.IsShuttingDown ? "stopping" : node.State,
                Uptime = SysPublisher.FormatUptime(node.Uptime),
                UptimeSeconds = (long)node.Uptime.TotalSeconds,
                Connections = node.Connections,
                Routes = node.Routes,
                ForwardedTo = node.ForwardedTo,
                ForwardedIn = node.IsSelf ? node.ForwardedIn : null,
                ForwardDropped = node.IsSelf ? cluster.ForwardDropped : null,
                ForwardResent = node.IsSelf ? cluster.ForwardResent : null,
                ForwardReleased = node.IsSelf ? cluster.ForwardReleased : null,
                ForwardRedispatched = node.IsSelf ? cluster.ForwardRedispatched : null,
                SessionCopiesPending = node.IsSelf ? cluster.SessionCopiesPending : null,
                LastSeenMs = node.LastSeen is { } seen ? (long)seen.TotalMilliseconds : null,
                Cluster = node.IsSelf ? cluster.ClusterName : null,
                NatsConnected = node.IsSelf ? cluster.NatsConnected : null,
                NatsServer = node.IsSelf ? cluster.NatsServer : null,
                NatsError = node.IsSelf ? cluster.NatsError : null,
                Membership = node.IsSelf ? membership.Membership : null,
                NatsServers = node.IsSelf ? ClusterOptions.Redact(cluster.Servers) : null,
            };
        }
        return views;
    }

    /// <summary>
    /// Which nodes a request covers: all (<paramref name="node"/> null), this one, or another this node knows (running
    /// or down); an unknown name is a 404.
    /// </summary>
    private static bool TryScope(BrokerCore core, ClusterMembership? cluster, string? node, out Scope scope, out IResult error)
    {
        error = Results.Empty;
        var others = cluster?.Node;
        if (node is null)
            scope = new Scope(true, others is not null, null);
        else if (node == core.Status.NodeName)
            scope = new Scope(true, false, null);
        else if (others is not null && others.Knows(node))
            scope = new Scope(false, true, node);
        else
        {
            scope = default;
            error = Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no node named '{node}' in this cluster");
            return false;
        }
        return true;
    }

    /// <summary>Asks the other nodes of <paramref name="scope"/>; never waits more than <see cref="AskTimeout"/>.</summary>
    private static async Task<Gathered> GatherAsync(ClusterMembership? cluster, Scope scope, ClusterQuestion question, CancellationToken cancel)
    {
        var answers = new List<(string, ClusterAnswer)>();
        if (!scope.Others || cluster?.Node is not { } node)
            return new Gathered(answers, null);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(question, ManagementJsonContext.Default.ClusterQuestion);
        var errors = new List<NodeError>();
        foreach (var reply in await node.AskAsync(bytes, scope.Only, AskTimeout, cancel).ConfigureAwait(false))
        {
            ClusterAnswer? answer = null;
            if (reply.Reply is { } data)
            {
                try
                {
                    answer = JsonSerializer.Deserialize(data, ManagementJsonContext.Default.ClusterAnswer);
                }
                catch (JsonException)
                {
                }
            }
            if (answer is not null)
                answers.Add((reply.Node, answer));
            else
                errors.Add(new NodeError { Node = reply.Node, Error = reply.Error ?? "its answer cannot be read" });
        }
        return new Gathered(answers, errors.Count == 0 ? null : [.. errors]);
    }

    /// <summary>Another node's question, answered from this node alone (the other side of <see cref="GatherAsync"/>).</summary>
    internal static async Task<byte[]> AnswerAsync(BrokerCore core, PluginManager? plugins, byte[] bytes, Microsoft.Extensions.Logging.ILogger logger)
    {
        var question = JsonSerializer.Deserialize(bytes, ManagementJsonContext.Default.ClusterQuestion)
            ?? throw new InvalidDataException("an empty question");
        var query = new QueryCollection(QueryHelpers.ParseQuery(question.Query));
        var take = Math.Max(question.Take, 0);
        ClusterAnswer answer;
        switch (question.Op)
        {
            case "clients":
                var clients = LocalClients(core, query, take, out var clientCount);
                answer = new ClusterAnswer { Count = clientCount, Clients = [.. clients] };
                break;
            case "subscriptions":
                if (!TryLocalSubscriptions(core, query, question.Clientid ?? "", take, out var subscriptions, out var subscriptionCount, out _))
                    throw new InvalidDataException("bad subscription filter");
                answer = new ClusterAnswer { Count = subscriptionCount, Subscriptions = [.. subscriptions] };
                break;
            case "kick":
                answer = new ClusterAnswer { Count = await core.Clients.KickAsync(question.Clientid ?? "").ConfigureAwait(false) ? 1 : 0 };
                break;
            case "stats":
                answer = new ClusterAnswer { Stats = core.Status.Stats() };
                break;
            case "metrics":
                answer = new ClusterAnswer { Metrics = core.Status.Metrics() };
                break;
            case "node":
                answer = new ClusterAnswer { Node = NodeInfoOf(core), Broker = BrokerInfoOf(core) };
                break;
            case "plugin":
                answer = await AnswerPluginActionAsync(core, plugins, question).ConfigureAwait(false);
                break;
            case "alarms":
                answer = new ClusterAnswer { Alarms = LocalAlarms(core, question.Query) };
                break;
            case "mqtt_subscribe" or "mqtt_unsubscribe":
                answer = AnswerSubscribe(core, question, logger);
                break;
            default:
                throw new InvalidDataException($"unknown question '{question.Op}' (a newer node?)");
        }
        return JsonSerializer.SerializeToUtf8Bytes(answer, ManagementJsonContext.Default.ClusterAnswer);
    }
}
