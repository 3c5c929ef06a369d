import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The two seed flows as a RabbitMQ application writes them with the Java client, unchanged but for host,
 * port, username and password: the `delay` header on an ordinary direct exchange, and an
 * x-delayed-message exchange with `x-delay`. Prints one line per event for the test to read:
 * `DELIVERED flow id elapsedMs redelivered`, `GET …`, `RECOVERED`, `DONE`.
 */
public class SeedFlows {
  static final BlockingQueue<String> events = new ArrayBlockingQueue<>(100);

  public static void main(String[] args) throws Exception {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    String suffix = args[4];
    ConnectionFactory factory = new ConnectionFactory();
    factory.setHost(host);
    factory.setPort(port);
    factory.setUsername(args[2]);
    factory.setPassword(args[3]);
    factory.setAutomaticRecoveryEnabled(true);
    factory.setNetworkRecoveryInterval(200);
    factory.setRequestedHeartbeat(5);
    Connection connection = factory.newConnection();
    CountDownLatch recovered = new CountDownLatch(1);
    ((Recoverable) connection).addRecoveryListener(new RecoveryListener() {
      public void handleRecovery(Recoverable r) { recovered.countDown(); }
      public void handleRecoveryStarted(Recoverable r) {}
    });
    Channel channel = connection.createChannel();
    channel.confirmSelect();
    channel.basicQos(16);

    // Seed flow 1: ApsaraMQ's `delay` header (a string of ms) on an ordinary direct exchange.
    String orders = "orders-" + suffix;
    channel.exchangeDeclare(orders, "direct", true, false, null);
    channel.queueDeclare("orders-q-" + suffix, true, false, false, null);
    channel.queueBind("orders-q-" + suffix, orders, "close");

    // Seed flow 2: the plugin's x-delayed-message exchange with `x-delay` (an integer of ms).
    String delayed = "delayed-" + suffix;
    Map<String, Object> exchangeArgs = new HashMap<>();
    exchangeArgs.put("x-delayed-type", "direct");
    channel.exchangeDeclare(delayed, "x-delayed-message", true, false, exchangeArgs);
    channel.queueDeclare("reminders-q-" + suffix, true, false, false, null);
    channel.queueBind("reminders-q-" + suffix, delayed, "remind");

    final Map<String, Long> sent = new java.util.concurrent.ConcurrentHashMap<>();
    for (String queue : new String[] {"orders-q-" + suffix, "reminders-q-" + suffix}) {
      final String flow = queue.startsWith("orders") ? "delay" : "x-delay";
      channel.basicConsume(queue, false, new DefaultConsumer(channel) {
        @Override
        public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties props, byte[] body) throws java.io.IOException {
          long now = System.currentTimeMillis();
          String id = props.getMessageId();
          Long at = sent.get(id);
          System.out.println("DELIVERED " + flow + " " + id + " " + (at == null ? -1 : now - at) + " " + envelope.isRedeliver() + " " + new String(body, StandardCharsets.UTF_8));
          System.out.flush();
          getChannel().basicAck(envelope.getDeliveryTag(), false);
        }
      });
    }

    publish(channel, orders, "close", "d-1500", "delay", "1500", sent);
    publish(channel, orders, "close", "d-500", "delay", "500", sent);
    publish(channel, delayed, "remind", "x-1200", "x-delay", 1200, sent);
    publish(channel, delayed, "remind", "x-700", "x-delay", 700, sent);
    channel.waitForConfirmsOrDie(30_000);
    System.out.println("CONFIRMED 4");
    System.out.flush();

    // basic.get on the default exchange's queue, and a nack that requeues.
    Channel other = connection.createChannel();
    String work = other.queueDeclare().getQueue();
    other.basicPublish("", work, new AMQP.BasicProperties.Builder().messageId("g-1").build(), "got".getBytes(StandardCharsets.UTF_8));
    GetResponse first = null;
    for (int i = 0; i < 100 && first == null; i++) {
      first = other.basicGet(work, false);
      if (first == null) Thread.sleep(50);
    }
    other.basicNack(first.getEnvelope().getDeliveryTag(), false, true);
    GetResponse again = null;
    for (int i = 0; i < 100 && again == null; i++) {
      again = other.basicGet(work, false);
      if (again == null) Thread.sleep(50);
    }
    System.out.println("GET " + work + " " + first.getEnvelope().isRedeliver() + " " + again.getEnvelope().isRedeliver() + " " + new String(again.getBody(), StandardCharsets.UTF_8));
    other.basicAck(again.getEnvelope().getDeliveryTag(), false);
    System.out.flush();

    // Wait for the test to force the connection closed, then publish again through the recovered topology.
    System.out.println("READY-FOR-RECOVERY");
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    in.readLine();
    if (!recovered.await(40, TimeUnit.SECONDS)) throw new IllegalStateException("no recovery");
    System.out.println("RECOVERED");
    System.out.flush();
    publish(channel, delayed, "remind", "r-600", "x-delay", 600, sent);
    channel.waitForConfirmsOrDie(30_000);
    in.readLine();
    channel.close();
    other.close();
    connection.close();
    System.out.println("DONE");
    System.out.flush();
  }

  static void publish(Channel channel, String exchange, String key, String id, String header, Object delay, Map<String, Long> sent) throws Exception {
    Map<String, Object> headers = new HashMap<>();
    headers.put(header, delay);
    AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().messageId(id).headers(headers).deliveryMode(2).build();
    sent.put(id, System.currentTimeMillis());
    channel.basicPublish(exchange, key, props, ("body " + id).getBytes(StandardCharsets.UTF_8));
  }
}
