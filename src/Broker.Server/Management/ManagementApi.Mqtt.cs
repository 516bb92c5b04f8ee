using System.Text;
using System.Text.Json.Serialization.Metadata;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Hosting;
using Broker.Core.Plugins;
using Broker.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's <c>/mqtt/*</c> endpoints: publish a message as if a client had (through <c>message.publish</c>, so
    /// rewrite, retainer and delayed publish act on it), and subscribe or unsubscribe an existing session (connected
    /// or persistent) as <see cref="Abstractions.Plugins.IBrokerServices"/> does for plugins. A single call answers
    /// 400 naming the field that is wrong (code 107 missing, 108 bad value, 109 bad JSON, 115 bad topic, 116 bad QoS)
    /// or 404 (code 112) for an unknown client; a batch answers 200 with one result per item, each with its code.
    /// </summary>
    private static void MapMqtt(RouteGroupBuilder api, BrokerCore core, Cluster.ClusterMembership? cluster, ILogger logger)
    {
        var services = core.Services;

        api.MapPost("/mqtt/publish", async (HttpRequest request) =>
        {
            var (body, error) = await ReadJsonAsync(request, ManagementJsonContext.Default.PublishRequest).ConfigureAwait(false);
            if (error is not null)
                return error;
            var results = await PublishAsync(core, body!, logger).ConfigureAwait(false);
            return Single(results);
        });
        api.MapPost("/mqtt/publish_batch", async (HttpRequest request) =>
        {
            var (items, error) = await ReadBatchAsync(request, ManagementJsonContext.Default.PublishRequestArray).ConfigureAwait(false);
            if (error is not null)
                return error;
            var results = new List<MqttActionResult>(items!.Length);
            foreach (var item in items)
                results.Add(Collapse(await PublishAsync(core, item is { } one ? one : new PublishRequest(), logger).ConfigureAwait(false)));
            return Ok(results.ToArray(), ManagementJsonContext.Default.ApiResponseMqttActionResultArray);
        });

        api.MapPost("/mqtt/subscribe", (HttpRequest request, CancellationToken cancel) =>
            SingleAsync(request, ManagementJsonContext.Default.SubscribeRequest, item => SubscribeAnywhereAsync(core, services, cluster, item, false, logger, cancel)));
        api.MapPost("/mqtt/subscribe_batch", (HttpRequest request, CancellationToken cancel) =>
            BatchAsync(request, ManagementJsonContext.Default.SubscribeRequestArray, item => SubscribeAnywhereAsync(core, services, cluster, item, false, logger, cancel)));
        api.MapPost("/mqtt/unsubscribe", (HttpRequest request, CancellationToken cancel) =>
            SingleAsync(request, ManagementJsonContext.Default.SubscribeRequest, item => SubscribeAnywhereAsync(core, services, cluster, item, true, logger, cancel)));
        api.MapPost("/mqtt/unsubscribe_batch", (HttpRequest request, CancellationToken cancel) =>
            BatchAsync(request, ManagementJsonContext.Default.SubscribeRequestArray, item => SubscribeAnywhereAsync(core, services, cluster, item, true, logger, cancel)));
    }

    /// <summary>
    /// Subscribes (or unsubscribes) the client wherever its session is, as EMQX 4's <c>/mqtt/subscribe</c> does in a
    /// cluster: here if this node has it, else the other running nodes are asked (all at once, as the lists do) and the
    /// one that has it acts and answers; an unknown client is a 404 only when no node has it.
    /// </summary>
    private static async Task<List<Outcome>> SubscribeAnywhereAsync(BrokerCore core, Abstractions.Plugins.IBrokerServices services,
        Cluster.ClusterMembership? cluster, SubscribeRequest request, bool unsubscribe, ILogger logger, CancellationToken cancel)
    {
        var outcomes = unsubscribe ? Unsubscribe(core, services, request, logger) : Subscribe(core, services, request, logger);
        if (cluster?.Node is null || outcomes is not [{ Result.Code: ApiCodes.ClientNotFound }])
            return outcomes;
        var question = new ClusterQuestion { Op = unsubscribe ? "mqtt_unsubscribe" : "mqtt_subscribe", Subscribe = request };
        var gathered = await GatherAsync(cluster, new Scope(false, true, null), question, cancel).ConfigureAwait(false);
        foreach (var (_, answer) in gathered.Answers)
        {
            if (answer.Count == 0 || answer.MqttResults is not { } results)
                continue;
            var remote = new List<Outcome>(results.Length);
            foreach (var result in results)
                remote.Add(new Outcome(result.Code == ApiCodes.Ok ? StatusCodes.Status200OK : answer.Status, result));
            return remote;
        }
        return outcomes;
    }

    /// <summary>Another node's <see cref="SubscribeAnywhereAsync"/>: acts if this node has the client (count 1), else answers count 0.</summary>
    private static ClusterAnswer AnswerSubscribe(BrokerCore core, ClusterQuestion question, ILogger logger)
    {
        var request = question.Subscribe ?? new SubscribeRequest();
        if (request.Clientid is not { Length: > 0 } clientId || !core.Clients.Exists(clientId))
            return new ClusterAnswer { Count = 0 };
        var outcomes = question.Op == "mqtt_unsubscribe" ? Unsubscribe(core, core.Services, request, logger) : Subscribe(core, core.Services, request, logger);
        var status = StatusCodes.Status200OK;
        var results = new MqttActionResult[outcomes.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = outcomes[i].Result;
            if (outcomes[i].Result.Code != ApiCodes.Ok && status == StatusCodes.Status200OK)
                status = outcomes[i].Status;
        }
        return new ClusterAnswer { Count = 1, MqttResults = results, Status = status };
    }

    /// <summary>The outcome of one item: an HTTP status for a single call plus the result object.</summary>
    private readonly record struct Outcome(int Status, MqttActionResult Result);

    private static Outcome Failed(int status, int code, string message, string? clientId = null, string? topic = null) =>
        new(status, new MqttActionResult { Clientid = clientId, Topic = topic, Code = code, Message = message });

    private static Outcome BadRequest(int code, string message, string? clientId = null, string? topic = null) =>
        Failed(StatusCodes.Status400BadRequest, code, message, clientId, topic);

    /// <summary>A single call: the first failure as an error answer, else every result as data.</summary>
    private static IResult Single(List<Outcome> outcomes)
    {
        foreach (var outcome in outcomes)
        {
            if (outcome.Result.Code != ApiCodes.Ok)
                return Error(outcome.Status, outcome.Result.Code, outcome.Result.Message ?? "failed");
        }
        var data = new MqttActionResult[outcomes.Count];
        for (var i = 0; i < data.Length; i++)
            data[i] = outcomes[i].Result;
        return Ok(data, ManagementJsonContext.Default.ApiResponseMqttActionResultArray);
    }

    /// <summary>A batch item that named several topics: one result, the first failure or the summed deliveries.</summary>
    private static MqttActionResult Collapse(List<Outcome> outcomes)
    {
        if (outcomes.Count == 1)
            return outcomes[0].Result;
        var delivered = 0;
        string? topics = null;
        foreach (var outcome in outcomes)
        {
            if (outcome.Result.Code != ApiCodes.Ok)
                return outcome.Result;
            delivered += outcome.Result.Delivered ?? 0;
            topics = topics is null ? outcome.Result.Topic : topics + "," + outcome.Result.Topic;
        }
        return new MqttActionResult { Clientid = outcomes[0].Result.Clientid, Topic = topics, Code = ApiCodes.Ok, Delivered = outcomes[0].Result.Delivered is null ? null : delivered };
    }

    private static async Task<IResult> SingleAsync<T>(HttpRequest request, JsonTypeInfo<T> type, Func<T, Task<List<Outcome>>> action)
        where T : class
    {
        var (body, error) = await ReadJsonAsync(request, type).ConfigureAwait(false);
        return error ?? Single(await action(body!).ConfigureAwait(false));
    }

    private static async Task<IResult> BatchAsync<T>(HttpRequest request, JsonTypeInfo<T[]> type, Func<T, Task<List<Outcome>>> action)
        where T : class, new()
    {
        var (items, error) = await ReadBatchAsync(request, type).ConfigureAwait(false);
        if (error is not null)
            return error;
        var results = new MqttActionResult[items!.Length];
        for (var i = 0; i < results.Length; i++)
            results[i] = Collapse(await action(items[i] is { } item ? item : new T()).ConfigureAwait(false));
        return Ok(results, ManagementJsonContext.Default.ApiResponseMqttActionResultArray);
    }

    private static async Task<(T[]? Items, IResult? Error)> ReadBatchAsync<T>(HttpRequest request, JsonTypeInfo<T[]> type)
        where T : class
    {
        var (items, error) = await ReadJsonAsync(request, type).ConfigureAwait(false);
        if (error is not null)
            return (null, error);
        return items!.Length == 0
            ? (null, Error(StatusCodes.Status400BadRequest, ApiCodes.MissingParameter, "the body must be a non-empty JSON array"))
            : (items, null);
    }

    /// <summary>The topics of <c>topic</c>, else of <c>topics</c> split at commas; empty when neither is given.</summary>
    private static string[] TopicsOf(string? topic, string? topics)
    {
        if (!string.IsNullOrEmpty(topic))
            return [topic];
        return string.IsNullOrEmpty(topics) ? [] : topics.Split(',', StringSplitOptions.TrimEntries);
    }

    private static async Task<List<Outcome>> PublishAsync(BrokerCore core, PublishRequest request, ILogger logger)
    {
        var topics = TopicsOf(request.Topic, request.Topics);
        if (!TryBuildMessage(core, request, topics, out var template, out var invalid))
            return [invalid];
        var outcomes = new List<Outcome>(topics.Length);
        foreach (var topic in topics)
        {
            var message = template with { Topic = topic };
            var delivered = Math.Max(await core.Publisher.PublishAsync(message).ConfigureAwait(false), 0);
            LogPublished(logger, topic, (int)message.Qos, message.Retain, message.Payload.Length, delivered);
            outcomes.Add(new Outcome(StatusCodes.Status200OK, new MqttActionResult { Topic = topic, Code = ApiCodes.Ok, Delivered = delivered }));
        }
        return outcomes;
    }

    /// <summary>Checks every field of a publish request and builds the message (topic still to be set).</summary>
    private static bool TryBuildMessage(BrokerCore core, PublishRequest request, string[] topics, out BrokerMessage message, out Outcome invalid)
    {
        message = null!;
        var topicText = request.Topic ?? request.Topics;
        if (topics.Length == 0)
        {
            invalid = BadRequest(ApiCodes.MissingParameter, "topic (or topics, comma-separated) is required");
            return false;
        }
        foreach (var topic in topics)
        {
            if (!MqttTopic.IsValidTopicName(topic))
            {
                invalid = BadRequest(ApiCodes.BadTopic, MqttTopic.HasWildcard(topic)
                    ? $"topic '{topic}' contains a wildcard (+ or #): a message is published to a topic name"
                    : $"topic '{topic}' is not a valid topic name", topic: topicText);
                return false;
            }
        }
        var qos = request.Qos ?? 0;
        if (qos is < 0 or > 2)
        {
            invalid = BadRequest(ApiCodes.BadQos, $"qos must be 0, 1 or 2, not {qos}", topic: topicText);
            return false;
        }
        byte[] payload;
        switch (request.Encoding ?? "plain")
        {
            case "plain":
                payload = Encoding.UTF8.GetBytes(request.Payload ?? "");
                break;
            case "base64":
                payload = new byte[(request.Payload?.Length ?? 0) * 3 / 4 + 3];
                if (!Convert.TryFromBase64String(request.Payload ?? "", payload, out var written))
                {
                    invalid = BadRequest(ApiCodes.BadParameter, "payload is not valid base64 (encoding is base64)", topic: topicText);
                    return false;
                }
                payload = payload[..written];
                break;
            default:
                invalid = BadRequest(ApiCodes.BadParameter, $"encoding must be plain or base64, not '{request.Encoding}'", topic: topicText);
                return false;
        }

        MessageProperties? properties = null;
        uint? expiry = null;
        if (request.Properties is { } p)
        {
            if (p.MessageExpiryInterval is { } seconds)
            {
                if (seconds is < 0 or > uint.MaxValue)
                {
                    invalid = BadRequest(ApiCodes.BadParameter, $"properties.message_expiry_interval must be 0 to {uint.MaxValue} seconds, not {seconds}", topic: topicText);
                    return false;
                }
                expiry = (uint)seconds;
            }
            if (p.PayloadFormatIndicator is not (null or 0 or 1))
            {
                invalid = BadRequest(ApiCodes.BadParameter, $"properties.payload_format_indicator must be 0 or 1, not {p.PayloadFormatIndicator}", topic: topicText);
                return false;
            }
            if (p.ResponseTopic is { } responseTopic && !MqttTopic.IsValidTopicName(responseTopic))
            {
                invalid = BadRequest(ApiCodes.BadTopic, $"properties.response_topic '{responseTopic}' is not a valid topic name", topic: topicText);
                return false;
            }
            var candidate = new MessageProperties
            {
                UserProperties = p.UserProperties is { } pairs ? [.. pairs.Select(pair => new MqttUserProperty(pair.Key, pair.Value))] : [],
                PayloadFormatIndicator = (byte?)p.PayloadFormatIndicator,
                ContentType = p.ContentType,
                ResponseTopic = p.ResponseTopic,
                CorrelationData = p.CorrelationData is null ? null : Encoding.UTF8.GetBytes(p.CorrelationData),
            };
            properties = candidate.IsEmpty ? null : candidate;
        }

        message = new BrokerMessage
        {
            Topic = topics[0],
            Payload = payload,
            Qos = (MqttQos)qos,
            Retain = request.Retain ?? false,
            Properties = properties,
            MessageExpiryInterval = expiry,
            PublisherId = string.IsNullOrEmpty(request.Clientid) ? null : request.Clientid,
            Timestamp = core.Status.Now,
            OriginNode = core.Status.NodeName,
        };
        invalid = default;
        return true;
    }

    private static List<Outcome> Subscribe(BrokerCore core, Abstractions.Plugins.IBrokerServices services, SubscribeRequest request, ILogger logger)
    {
        var topics = TopicsOf(request.Topic, request.Topics);
        if (!TryCheckSubscription(core, request, topics, out var clientId, out var invalid))
            return [invalid];
        var qos = request.Qos ?? 0;
        if (qos is < 0 or > 2)
            return [BadRequest(ApiCodes.BadQos, $"qos must be 0, 1 or 2, not {qos}", clientId, request.Topic ?? request.Topics)];
        var outcomes = new List<Outcome>(topics.Length);
        foreach (var topic in topics)
        {
            if (!services.Subscribe(clientId, topic, new SubscriptionOptions((MqttQos)qos)))
                return [ClientGone(clientId, topic)];
            LogSubscribed(logger, clientId, topic, qos);
            outcomes.Add(new Outcome(StatusCodes.Status200OK, new MqttActionResult { Clientid = clientId, Topic = topic, Code = ApiCodes.Ok }));
        }
        return outcomes;
    }

    private static List<Outcome> Unsubscribe(BrokerCore core, Abstractions.Plugins.IBrokerServices services, SubscribeRequest request, ILogger logger)
    {
        var topics = TopicsOf(request.Topic, request.Topics);
        if (!TryCheckSubscription(core, request, topics, out var clientId, out var invalid))
            return [invalid];
        var outcomes = new List<Outcome>(topics.Length);
        foreach (var topic in topics)
        {
            if (!services.Unsubscribe(clientId, topic))
            {
                return core.Clients.Exists(clientId)
                    ? [Failed(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"client '{clientId}' has no subscription to '{topic}'", clientId, topic)]
                    : [ClientGone(clientId, topic)];
            }
            LogUnsubscribed(logger, clientId, topic);
            outcomes.Add(new Outcome(StatusCodes.Status200OK, new MqttActionResult { Clientid = clientId, Topic = topic, Code = ApiCodes.Ok }));
        }
        return outcomes;
    }

    private static Outcome ClientGone(string clientId, string topic) =>
        Failed(StatusCodes.Status404NotFound, ApiCodes.ClientNotFound, $"no client '{clientId}'", clientId, topic);

    /// <summary>clientid present and known, topic filters present and valid (a <c>$share/g/</c> prefix allowed).</summary>
    private static bool TryCheckSubscription(BrokerCore core, SubscribeRequest request, string[] topics, out string clientId, out Outcome invalid)
    {
        clientId = request.Clientid ?? "";
        var topicText = request.Topic ?? request.Topics;
        if (clientId.Length == 0)
        {
            invalid = BadRequest(ApiCodes.MissingParameter, "clientid is required", topic: topicText);
            return false;
        }
        if (topics.Length == 0)
        {
            invalid = BadRequest(ApiCodes.MissingParameter, "topic (or topics, comma-separated) is required", clientId);
            return false;
        }
        foreach (var topic in topics)
        {
            var shared = MqttTopic.TryParseShared(topic, out var group, out var filter);
            if ((shared && group is null) || !MqttTopic.IsValidTopicFilter(filter))
            {
                invalid = BadRequest(ApiCodes.BadTopic, $"topic '{topic}' is not a valid topic filter", clientId, topicText);
                return false;
            }
        }
        if (!core.Clients.Exists(clientId))
        {
            invalid = ClientGone(clientId, topicText!);
            return false;
        }
        invalid = default;
        return true;
    }

    [LoggerMessage(EventId = 43, Level = LogLevel.Debug, Message = "Management API published to {Topic} (QoS {Qos}, retain {Retain}, {Bytes} bytes): {Delivered} deliveries")]
    private static partial void LogPublished(ILogger logger, string topic, int qos, bool retain, int bytes, int delivered);

    [LoggerMessage(EventId = 44, Level = LogLevel.Information, Message = "Management API subscribed client {ClientId} to {Topic} (QoS {Qos})")]
    private static partial void LogSubscribed(ILogger logger, string clientId, string topic, int qos);

    [LoggerMessage(EventId = 45, Level = LogLevel.Information, Message = "Management API unsubscribed client {ClientId} from {Topic}")]
    private static partial void LogUnsubscribed(ILogger logger, string clientId, string topic);
}
