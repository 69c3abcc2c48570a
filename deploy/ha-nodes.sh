#!/bin/sh
# The nodes of docker compose's `ha` profile: three TCP echo servers on this container's loopback
# (a master and two replicas of shard0), each with a `shardvoy agent` that heartbeats for it to
# all three shardvoy instances: it stays with the first that answers and moves to the next when
# that one fails. Envoy shares this container's network namespace, so 127.0.0.1 is the same place
# for it and for the nodes.
set -eu
for port in 9001 9002 9003; do
  node -e "require('net').createServer((s) => s.pipe(s)).listen($port, '127.0.0.1')" &
done
node /app/dist/cli.js agent --server http://shardvoy-1:8082,http://shardvoy-2:8082,http://shardvoy-3:8082 --id ha-a1 --address 127.0.0.1:9001 --database default --shard shard0 --role master --dc dc1 --epoch 1 &
node /app/dist/cli.js agent --server http://shardvoy-2:8082,http://shardvoy-3:8082,http://shardvoy-1:8082 --id ha-a2 --address 127.0.0.1:9002 --database default --shard shard0 --role replica --dc dc1 --epoch 1 &
node /app/dist/cli.js agent --server http://shardvoy-3:8082,http://shardvoy-1:8082,http://shardvoy-2:8082 --id ha-a3 --address 127.0.0.1:9003 --database default --shard shard0 --role replica --dc dc2 --epoch 1 &
wait
