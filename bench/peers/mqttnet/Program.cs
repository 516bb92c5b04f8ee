using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using MQTTnet.Server;

// MQTTnet's server with what an application embedding it would set, and the limits the other brokers of
// bench/compare.sh are given (1,000 queued messages per client): no persistence, anonymous access, loopback.
if (args.Length != 2 || args[0] != "--port" || !int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
{
    Console.Error.WriteLine("usage: mqttnet-peer --port N");
    return 2;
}

var factory = new MqttServerFactory();
var options = factory.CreateServerOptionsBuilder()
    .WithDefaultEndpoint()
    .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
    .WithDefaultEndpointPort(port)
    .WithConnectionBacklog(1024)
    .WithMaxPendingMessagesPerClient(1000)
    .Build();
using var server = factory.CreateMqttServer(options);
var stop = new TaskCompletionSource();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.TrySetResult();
});
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
{
    context.Cancel = true;
    stop.TrySetResult();
});
await server.StartAsync();
Console.WriteLine($"MQTTnet server running on 127.0.0.1:{port}");
await stop.Task;
await server.StopAsync();
return 0;
